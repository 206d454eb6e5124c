// Alert rules end to end (SPEC §10): real flips of hosts in network namespaces probed by the
// app's fping, rules and windows made through the API, alerts delivered by the outbox to a
// webhook receiver on 127.0.0.1. Time that only the rules count (re-notify, the end of a
// maintenance window) is moved on with the `alertsClock` seam; everything else is real.
import t from 'tap'
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import Fastify from 'fastify'
import { startApp, tempDir, validServer, type Running, type Test } from './support/app.ts'
import { sleep, waitFor } from './support/wait.ts'
import { createTestHosts, netnsSkipReason } from './support/netns.ts'
import { startSnmpd, snmpget, snmpwalk } from './support/snmpd.ts'
import { startHttpReceiver } from './support/alert-receivers.ts'
import { createSqliteStorage } from '../plugins/history/sqlite-storage.ts'
import { createRecorder } from '../plugins/history/recorder.ts'
import type { Alert } from '../schemas/alerts.ts'

const MINUTE = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000

/** A webhook endpoint on 127.0.0.1 (test/support/alert-receivers.ts) and the alerts it got. */
async function startReceiver (t: Test) {
  const receiver = await startHttpReceiver(t)
  const alerts = () => receiver.requests.map(request => request.json as Alert)
  return {
    url: `${receiver.url}/alerts`,
    received: receiver.requests,
    alerts,
    waitFor: (what: string, check: (alerts: Alert[]) => boolean, timeoutMs = 30_000) => waitFor(() => check(alerts()), timeoutMs, what)
  }
}

/** A time source the test can move on: real time plus an offset. */
function movableClock () {
  let offset = 0
  return { now: () => Date.now() + offset, forward (ms: number) { offset += ms } }
}

async function data (api: Running, method: string, path: string, body?: unknown) {
  const answer = await api.call(method, path, body)
  if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${answer.text}`)
  return answer.json.data
}

async function addRule (api: Running, receiverUrl: string, rule: Record<string, unknown>) {
  const channel = await data(api, 'POST', '/api/config/channels', { name: 'on-call hook', type: 'webhook', url: receiverUrl })
  return data(api, 'POST', '/api/config/alert-rules', { name: 'on-call', enabled: true, scope: { serverIds: [], groupIds: [] }, on: ['down', 'up'], channelIds: [channel.id], ...rule })
}

const statusOf = async (api: Running, id: string) => data(api, 'GET', `/api/servers/${id}`)

t.test('down after forSeconds, re-notified, up after recovery; a flap shorter than forSeconds sends nothing', { skip: netnsSkipReason() }, async t => {
  const hosts = await createTestHosts(t)
  const receiver = await startReceiver(t)
  const clock = movableClock()
  const api = await startApp(t, { pingIntervalMs: 200, threshold: 2, fpingPath: hosts.fpingWrapper, alertsClock: clock.now })
  const server = await data(api, 'POST', '/api/config/servers', validServer({ name: 'db-1', ip: '10.9.9.1', dnsAddress: hosts.hostAddress }))
  const rule = await addRule(api, receiver.url, { forSeconds: 3, renotifyMinutes: 10 })
  await waitFor(async () => (await statusOf(api, server.id)).isOnline, 15_000, 'online')

  // A flap: down, and back after about a second.
  await hosts.linkDown()
  await waitFor(async () => !(await statusOf(api, server.id)).isOnline, 15_000, 'offline (the flap)')
  await sleep(800)
  await hosts.linkUp()
  await waitFor(async () => (await statusOf(api, server.id)).isOnline, 15_000, 'online again')
  await sleep(4000)
  t.same(receiver.alerts(), [], 'a flap shorter than forSeconds: neither down nor up')

  await hosts.linkDown()
  const flip = Date.parse((await waitFor(async () => {
    const status = await statusOf(api, server.id)
    return status.isOnline ? null : status
  }, 15_000, 'offline')).lastStatusChange)
  await receiver.waitFor('the down alert', alerts => alerts.length > 0)
  const [down] = receiver.received
  t.ok(down!.at - flip >= 3000, `sent ${down!.at - flip} ms after the flip: not before forSeconds`)
  t.ok(down!.at - flip < 8000, 'and soon after it')
  t.match(down!.json, {
    kind: 'down',
    rule: { id: rule.id, name: 'on-call' },
    server: { id: server.id, name: 'db-1', ip: '10.9.9.1' },
    groups: [],
    message: /^DOWN: db-1 \(10\.9\.9\.1\) has been down for \d+s \(since /
  })
  t.ok(Math.abs(Date.parse(down!.json.since) - flip) < 1000, 'since: the flip')
  t.ok(down!.json.durationSeconds! >= 3)

  clock.forward(10 * MINUTE)
  await receiver.waitFor('the re-notification', alerts => alerts.length > 1)
  t.match(receiver.alerts()[1], { kind: 'down', message: /^STILL DOWN: db-1 .* has been down for 10m/, since: down!.json.since })

  await hosts.linkUp()
  await receiver.waitFor('the up alert', alerts => alerts.some(alert => alert.kind === 'up'))
  await sleep(1000)
  t.same(receiver.alerts().map(alert => alert.kind), ['down', 'down', 'up'], 'one up, nothing more')
  t.match(receiver.alerts()[2], { kind: 'up', server: { id: server.id }, message: /^UP: db-1 \(10\.9\.9\.1\) is up again after 10m \d+s down$/ })
})

t.test('a restart: no second down for a server still down, its up after recovery; one back while stopped gets its up', { skip: netnsSkipReason() }, async t => {
  const hosts = await createTestHosts(t)
  const receiver = await startReceiver(t)
  const dir = await tempDir(t)
  const options = { pingIntervalMs: 200, threshold: 2, fpingPath: hosts.fpingWrapper }
  const first = await startApp(t, options, dir)
  const server = await data(first, 'POST', '/api/config/servers', validServer({ name: 'db-1', ip: '10.9.9.1', dnsAddress: hosts.hostAddress }))
  await addRule(first, receiver.url, { forSeconds: 0 })
  await waitFor(async () => (await statusOf(first, server.id)).isOnline, 15_000, 'online')
  await hosts.linkDown()
  await receiver.waitFor('the down alert', alerts => alerts.length === 1)
  await first.app.close()

  const second = await startApp(t, options, dir)
  await waitFor(async () => (await statusOf(second, server.id)).consecutiveFailures >= 4, 15_000, 'offline decided again after the restart')
  await sleep(1500)
  t.same(receiver.alerts().map(alert => alert.kind), ['down'], 'still down after the restart: no second down')
  await hosts.linkUp()
  await receiver.waitFor('the up alert', alerts => alerts.length === 2)
  t.match(receiver.alerts()[1], { kind: 'up', server: { id: server.id }, durationSeconds: Number })
  t.ok(receiver.alerts()[1]!.durationSeconds! >= 2, `down from before the restart to after it (${receiver.alerts()[1]!.durationSeconds} s)`)

  await hosts.linkDown()
  await receiver.waitFor('a new down', alerts => alerts.length === 3)
  await second.app.close()
  await hosts.linkUp()
  const third = await startApp(t, options, dir)
  await receiver.waitFor('the up of the down sent before the restart', alerts => alerts.length === 4)
  await waitFor(async () => (await statusOf(third, server.id)).isOnline, 15_000, 'online')
  await sleep(1000)
  t.same(receiver.alerts().map(alert => alert.kind), ['down', 'up', 'down', 'up'])
})

t.test('maintenance: no alert inside the window, the status says so, and the down comes when it ends', { skip: netnsSkipReason() }, async t => {
  const hosts = await createTestHosts(t)
  const receiver = await startReceiver(t)
  const clock = movableClock()
  const api = await startApp(t, { pingIntervalMs: 200, threshold: 2, fpingPath: hosts.fpingWrapper, alertsClock: clock.now })
  const server = await data(api, 'POST', '/api/config/servers', validServer({ name: 'app-1', dnsAddress: hosts.hostAddress }))
  await addRule(api, receiver.url, { forSeconds: 0 })
  await waitFor(async () => (await statusOf(api, server.id)).isOnline, 15_000, 'online')

  const start = clock.now()
  await data(api, 'POST', '/api/config/maintenance', {
    name: 'kernel update',
    scope: { serverIds: [server.id], groupIds: [] },
    start: new Date(start - MINUTE).toISOString(),
    end: new Date(start + HOUR).toISOString()
  })
  await waitFor(async () => (await statusOf(api, server.id)).maintenance === true, 10_000, 'maintenance: true in the status')
  await hosts.linkDown()
  const flip = Date.parse((await waitFor(async () => {
    const status = await statusOf(api, server.id)
    return status.isOnline ? null : status
  }, 15_000, 'offline inside the window')).lastStatusChange)
  t.ok((await data(api, 'GET', `/api/servers/${server.id}/incidents`)).length === 1, 'still probed and recorded: the incident is in the history')
  await sleep(3000)
  t.same(receiver.alerts(), [], 'nothing while inside the window')

  clock.forward(HOUR)
  await receiver.waitFor('the down alert after the window', alerts => alerts.length > 0, 10_000)
  t.match(receiver.alerts()[0], { kind: 'down', server: { id: server.id } })
  t.ok(Math.abs(Date.parse(receiver.alerts()[0]!.since) - flip) < 1000, 'since: when it really went down, inside the window')
  t.notOk('maintenance' in await statusOf(api, server.id), 'no maintenance flag after the window')
  await hosts.linkUp()
  await receiver.waitFor('the up alert', alerts => alerts.length > 1)
  t.same(receiver.alerts().map(alert => alert.kind), ['down', 'up'])
})

t.test('ten addresses of a group of twelve on one link go down together: one grouped alert after the hold, one grouped up', { skip: netnsSkipReason() }, async t => {
  const hosts = await createTestHosts(t, { hostCount: 10 })
  const receiver = await startReceiver(t)
  const api = await startApp(t, { pingIntervalMs: 200, threshold: 2, fpingPath: hosts.fpingWrapper })
  const ids: string[] = []
  for (const [i, address] of hosts.hostAddresses.entries()) {
    ids.push((await data(api, 'POST', '/api/config/servers', validServer({ name: `rack-${i + 1}`, ip: address, dnsAddress: address }))).id)
  }
  // Two more servers of the group on loopback stay up: 10 of 12 down, a storm, but not the whole group.
  const stayUp = [
    await data(api, 'POST', '/api/config/servers', validServer({ name: 'rack-lo-1', dnsAddress: '127.0.0.61' })),
    await data(api, 'POST', '/api/config/servers', validServer({ name: 'rack-lo-2', dnsAddress: '127.0.0.62' }))
  ]
  const group = await data(api, 'POST', '/api/config/groups', { name: 'Rack 7', serverIds: [...ids, ...stayUp.map(server => server.id)] })
  await addRule(api, receiver.url, { forSeconds: 0 })
  await waitFor(async () => (await data(api, 'GET', '/api/servers')).every((status: { isOnline: boolean }) => status.isOnline), 20_000, 'all online')

  await hosts.addressesDown()
  const flips = await waitFor(async () => {
    const statuses = (await data(api, 'GET', '/api/servers')) as Array<{ id: string, isOnline: boolean, lastStatusChange: string }>
    const down = statuses.filter(status => ids.includes(status.id) && !status.isOnline)
    return down.length === ids.length ? down.map(status => Date.parse(status.lastStatusChange)) : null
  }, 15_000, 'all ten offline')
  await receiver.waitFor('the storm alert', alerts => alerts.length > 0)
  const heldFor = receiver.received[0]!.at - Math.min(...flips)
  t.ok(heldFor >= 9000 && heldFor < 15_000, `sent ${heldFor} ms after the first flip: held 10 s for the group to gather`)
  await sleep(12_000) // longer than the hold: nothing else may follow
  const alerts = receiver.alerts()
  t.equal(alerts.length, 1, 'one alert, not ten')
  t.match(alerts[0], { kind: 'down', groups: ['Rack 7'], storm: { group: { id: group.id, name: 'Rack 7' } }, message: /^DOWN: 10 servers of group Rack 7 \(of 12\) went down together: rack-\d+ \(/ })
  t.same(alerts[0]!.storm!.servers.map(server => server.id).sort(), [...ids].sort(), 'naming all ten')
  t.ok(ids.includes(alerts[0]!.server.id))
  t.notOk(JSON.stringify(alerts).includes('rack-lo-'), 'the servers that stayed up are not in it')

  await hosts.addressesUp()
  await receiver.waitFor('the grouped up', alerts => alerts.length > 1)
  await sleep(2000)
  t.same(receiver.alerts().map(alert => `${alert.kind} ${alert.storm?.servers.length}`), ['down 10', 'up 10'], 'one up for the group')
  t.match(receiver.alerts()[1]!.message, /^UP: all 10 servers of group Rack 7 that went down together are up again after \d+s/)
})

t.test('disks: percent from real SNMP readings, days to full from the forecast of synthetic history', async t => {
  const agent = await startSnmpd()
  t.teardown(() => agent.stop())
  const HR = '1.3.6.1.2.1.25.2.3.1'
  const descrs = await snmpwalk(agent, `${HR}.3`)
  const rootIndex = Number(descrs.find(([, v]) => JSON.parse(v) === '/')?.[0].split('.').pop())
  const [units, size, used] = (await snmpget(agent, [`${HR}.4.${rootIndex}`, `${HR}.5.${rootIndex}`, `${HR}.6.${rootIndex}`])).map(value => Number(value.replace(/\D+$/, '').split(' ')[0]))
  const unsigned = (value: number) => (value < 0 ? value + 2 ** 32 : value)
  const totalMiB = Math.round(unsigned(size!) * units! / 1048576)
  const usedMiB = Math.round(unsigned(used!) * units! / 1048576)
  const percentage = Math.round(unsigned(used!) / unsigned(size!) * 100)

  // 4 days of hourly maxima growing from half of today's use to today's use, on the real
  // total: the forecast's line, and the readings the app adds meanwhile, agree.
  const growthPerDay = usedMiB / 2 / 4
  const expectedDays = (totalMiB - usedMiB) / growthPerDay
  const daysRule = Math.ceil(expectedDays) + 5
  if (!t.ok(daysRule <= 365, `the agent's / (${percentage} % full) allows a growth whose days to full fit a rule (≤ 365)`)) return
  const dir = await tempDir(t)
  const dataFile = join(dir, 'estatus.json')
  const historyFile = join(dir, 'history.sqlite')
  const serverId = 'server-001'
  await writeFile(dataFile, JSON.stringify({
    version: 1,
    nextServerId: 2,
    nextGroupId: 1,
    servers: [{ id: serverId, name: 'files-1', ip: '10.0.0.9', dnsAddress: '127.0.0.1', snmp: { enabled: true, community: agent.community, disks: [{ index: rootIndex, name: 'root' }] } }],
    groups: []
  }))
  const now = Date.now()
  let simulated = now - 4 * DAY
  const storage = createSqliteStorage(historyFile)
  const recorder = createRecorder({ storage, clock: () => simulated, log: Fastify({ logger: false }).log, lastStates: new Map() })
  recorder.track(serverId, 4)
  for (; simulated < now - HOUR; simulated += HOUR) {
    const usedThen = Math.round(usedMiB - growthPerDay * (now - simulated) / DAY)
    recorder.onResult({ kind: 'disks', serverId, at: simulated, diskInfo: [{ total: totalMiB, used: usedThen, free: totalMiB - usedThen, percentage: 0, index: rootIndex, name: 'root', source: 'snmp' }] })
  }
  await recorder.close()
  await storage.close()

  const receiver = await startReceiver(t)
  const api = await startApp(t, { dataFile, historyFile, snmpPort: agent.port, diskIntervalMs: 1000, monitor: true, fpingPath: join(dir, 'no-fping') }, dir)
  const channel = await data(api, 'POST', '/api/config/channels', { name: 'disk hook', type: 'webhook', url: receiver.url })
  await data(api, 'POST', '/api/config/alert-rules', { name: 'disk full', enabled: true, scope: { serverIds: [serverId], groupIds: [] }, on: ['disk'], diskDaysToFull: daysRule, diskPercent: Math.max(1, percentage - 1), channelIds: [channel.id] })

  await receiver.waitFor('both disk alerts', alerts => alerts.length >= 2)
  await sleep(3000) // three more disk rounds: no repeat
  const alerts = receiver.alerts()
  t.equal(alerts.length, 2, 'one alert per condition, not one per reading')
  const byPercent = alerts.find(alert => alert.disk?.daysToFull === undefined)!
  const byDays = alerts.find(alert => alert.disk?.daysToFull !== undefined)!
  t.match(byPercent, { kind: 'disk', server: { id: serverId, name: 'files-1' }, disk: { name: 'root' }, message: /^DISK: files-1 \(10\.0\.0\.9\) disk root is \d+% full \(alert at \d+%\)$/ })
  t.ok(Math.abs(byPercent.disk!.percentage - percentage) <= 1, `the reading's percentage (${byPercent.disk!.percentage} %, snmpget ${percentage} %)`)
  t.match(byDays, { kind: 'disk', disk: { name: 'root' }, message: new RegExp(`will be full in \\d+\\.\\d days .*alert at ${daysRule} days`) })
  t.ok(Math.abs(byDays.disk!.daysToFull! - expectedDays) < 1, `full in ${byDays.disk!.daysToFull} days (${expectedDays.toFixed(1)} by construction)`)
})
