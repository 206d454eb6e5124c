import t from 'tap'
import { startApp, validServer } from './support/app.ts'
import { sleep, waitFor } from './support/wait.ts'
import { connectEvents } from './support/sse.ts'
import { createTestHosts, netnsSkipReason } from './support/netns.ts'
import { fpingChildren } from './support/proc.ts'
import type { MonitorResult } from '../plugins/monitor/index.ts'

/** Whether an fping process of this test process probes `address` (other test files run their own). */
const probed = (address: string) => fpingChildren().some(({ argv }) => argv.includes(address))

const statusChanges = (messages: Array<{ type: string }>) =>
  messages.filter((message): message is { type: 'statusChange', update: { serverId: string, isOnline: boolean, previousStatus: boolean } } & { type: string } => message.type === 'statusChange')

t.test('loopback targets come online after their own thresholds, with one statusChange each', async t => {
  const api = await startApp(t, { pingIntervalMs: 200, pingTimeoutMs: 1000, threshold: 3 })
  const events = await connectEvents(api.url)
  t.teardown(() => events.close())
  const quick = (await api.call('POST', '/api/config/servers', validServer({ name: 'quick', dnsAddress: '127.0.0.11', consecutiveSuccesses: 1 }))).json.data
  const normal = (await api.call('POST', '/api/config/servers', validServer({ name: 'normal', dnsAddress: '127.0.0.12' }))).json.data
  const slow = (await api.call('POST', '/api/config/servers', validServer({ name: 'slow', dnsAddress: '127.0.0.13', consecutiveSuccesses: 10 }))).json.data

  const initial = (await api.call('GET', `/api/servers/${slow.id}`)).json.data
  t.match(initial, { id: slow.id, name: 'slow', isOnline: false })

  await waitFor(async () => (await api.call('GET', `/api/servers/${quick.id}`)).json.data.isOnline, 10000, 'quick online')
  const quickStatus = (await api.call('GET', `/api/servers/${quick.id}`)).json.data
  // At the moment the threshold-1 server flips, the threshold-10 one (2 s away) cannot have.
  t.equal((await api.call('GET', `/api/servers/${slow.id}`)).json.data.isOnline, false, 'threshold 10 is not reached as soon as threshold 1')
  t.type(quickStatus.responseTimeMs, 'number', 'the reply time is reported')
  t.notOk(quickStatus.lastError)
  await waitFor(async () => (await api.call('GET', '/api/servers')).json.data.every((s: { isOnline: boolean }) => s.isOnline), 15000, 'all online')

  const slowStatus = (await api.call('GET', `/api/servers/${slow.id}`)).json.data
  t.ok(slowStatus.consecutiveSuccesses >= 10 && slowStatus.consecutiveFailures === 0, 'counters are run lengths')
  await sleep(1000) // several more rounds: still one flip each
  const flips = statusChanges(events.messages)
  t.same(flips.map(flip => flip.update.serverId).sort(), [quick.id, normal.id, slow.id].sort(), 'exactly one statusChange per server')
  t.ok(flips.every(flip => flip.update.isOnline && !flip.update.previousStatus))
  t.same((await api.call('GET', '/api/servers/stats/summary')).json.data, { total: 3, online: 3, offline: 0, uptime: 100 })
  t.match((await api.call('GET', '/health')).json, { status: 'ok', serverCount: 3, onlineCount: 3, checks: { icmp: { ok: true } } })
})

t.test('a rename keeps the counters and emits no flip; a new dnsAddress starts afresh; a delete stops probing', async t => {
  const api = await startApp(t, { pingIntervalMs: 200, threshold: 2 })
  const events = await connectEvents(api.url)
  t.teardown(() => events.close())
  const server = (await api.call('POST', '/api/config/servers', validServer({ name: 'before', dnsAddress: '127.0.0.21' }))).json.data
  await waitFor(async () => (await api.call('GET', `/api/servers/${server.id}`)).json.data.consecutiveSuccesses >= 5, 10000, 'five successes')

  await api.call('PUT', `/api/config/servers/${server.id}`, validServer({ name: 'after', dnsAddress: '127.0.0.21' }))
  const renamed = (await api.call('GET', `/api/servers/${server.id}`)).json.data
  t.equal(renamed.name, 'after')
  t.equal(renamed.isOnline, true)
  t.ok(renamed.consecutiveSuccesses >= 5, `counters kept (${renamed.consecutiveSuccesses})`)
  t.equal(statusChanges(events.messages).length, 1, 'only the first flip online')

  await api.call('PUT', `/api/config/servers/${server.id}`, validServer({ name: 'after', dnsAddress: '127.0.0.22' }))
  const moved = (await api.call('GET', `/api/servers/${server.id}`)).json.data
  t.ok(moved.consecutiveSuccesses < 5, 'a new target starts its counters afresh')
  await waitFor(() => probed('127.0.0.22') && !probed('127.0.0.21'), 10000, 'the old target is no longer probed')

  await api.call('DELETE', `/api/config/servers/${server.id}`)
  await waitFor(() => !probed('127.0.0.22'), 10000, 'no fping process probes a deleted server')
  t.equal((await api.call('GET', `/api/servers/${server.id}`)).status, 404)
  t.same((await api.call('GET', `/api/servers/${server.id}`)).json, { success: false, error: 'Server not found' })
})

t.test('a killed fping child is replaced and probing goes on', async t => {
  const api = await startApp(t, { pingIntervalMs: 200, threshold: 1 })
  const server = (await api.call('POST', '/api/config/servers', validServer({ dnsAddress: '127.0.0.31' }))).json.data
  await waitFor(() => probed('127.0.0.31'), 10000, 'fping running')
  const killed = fpingChildren().filter(({ argv }) => argv.includes('127.0.0.31')).map(({ pid }) => pid)
  t.equal(killed.length, 1, 'one fping process probes the server')
  for (const pid of killed) process.kill(pid, 'SIGKILL')
  const killedAt = (await api.call('GET', `/api/servers/${server.id}`)).json.data.lastChecked
  await waitFor(async () => {
    const status = (await api.call('GET', `/api/servers/${server.id}`)).json.data
    return status.lastChecked > killedAt && status.isOnline && fpingChildren().some(({ pid, argv }) => argv.includes('127.0.0.31') && !killed.includes(pid))
  }, 15000, 'results from a new fping process after the kill')
  t.pass('recovered')
})

t.test('without fping the server starts, health is degraded and every status says why', async t => {
  const api = await startApp(t, { pingIntervalMs: 200, fpingPath: '/nonexistent/fping' })
  const server = (await api.call('POST', '/api/config/servers', validServer())).json.data
  const health = await waitFor(async () => {
    const answer = (await api.call('GET', '/health')).json
    return answer.status === 'degraded' ? answer : null
  }, 10000, 'degraded health')
  t.equal(health.checks.icmp.ok, false)
  t.match(health.checks.icmp.error, /fping/)
  const status = (await api.call('GET', `/api/servers/${server.id}`)).json.data
  t.match(status, { isOnline: false, lastError: /fping/ })
  const later = (await api.call('POST', '/api/config/servers', validServer({ name: 'later' }))).json.data
  t.match((await api.call('GET', `/api/servers/${later.id}`)).json.data.lastError, /fping/, 'servers added later say it too')
})

t.test('a host in a network namespace goes offline when its link goes down and online when it comes back', { skip: netnsSkipReason() }, async t => {
  const hosts = await createTestHosts(t)
  // fping runs inside the prober's namespace, where the test host is reachable.
  const api = await startApp(t, { pingIntervalMs: 200, threshold: 3, fpingPath: hosts.fpingWrapper })
  const events = await connectEvents(api.url)
  t.teardown(() => events.close())
  const server = (await api.call('POST', '/api/config/servers', validServer({ name: 'netns-host', dnsAddress: hosts.hostAddress }))).json.data
  const isOnline = async () => (await api.call('GET', `/api/servers/${server.id}`)).json.data.isOnline as boolean
  const flipsOf = () => statusChanges(events.messages).filter(flip => flip.update.serverId === server.id)

  await waitFor(isOnline, 15000, 'online while the link is up')
  await hosts.linkDown()
  await waitFor(async () => !(await isOnline()), 15000, 'offline after the link went down')
  const down = (await api.call('GET', `/api/servers/${server.id}`)).json.data
  t.ok(down.consecutiveFailures >= 3, 'after three failures in a row')
  t.match(down.lastError, /no ICMP echo reply/)
  await sleep(1000)
  t.same(flipsOf().map(flip => flip.update.isOnline), [true, false], 'one statusChange each way so far')

  await hosts.linkUp()
  await waitFor(isOnline, 15000, 'online again after the link came back')
  await sleep(1000)
  t.same(flipsOf().map(flip => [flip.update.isOnline, flip.update.previousStatus]), [[true, false], [false, true], [true, false]],
    'exactly one statusChange per flip')
})

t.test('onResult: every ping result after the state machine, a throwing listener changes nothing, unsubscribe stops it', async t => {
  const api = await startApp(t, { pingIntervalMs: 200, threshold: 2 })
  const monitor = api.app.estatus.monitor
  const results: MonitorResult[] = []
  const unsubscribe = monitor.onResult(result => { results.push(result) })
  let thrown = 0
  monitor.onResult(() => { thrown++; throw new Error('a broken listener') })
  const server = (await api.call('POST', '/api/config/servers', validServer({ name: 'results', dnsAddress: '127.0.0.41' }))).json.data
  const ours = () => results.filter(result => result.serverId === server.id)
  await waitFor(() => ours().length >= 4, 10000, 'four results')
  const pings = ours()
  t.ok(pings.every(result => result.kind === 'ping' && result.alive && typeof result.rttMs === 'number' && typeof result.at === 'number'), 'ping results: alive, with the reply time')
  t.same(pings.slice(0, 3).map(result => result.kind === 'ping' && result.isOnline), [false, true, true], 'isOnline is the state after each result (threshold 2)')
  t.ok(thrown >= 4, 'the throwing listener was called too')
  t.equal((await api.call('GET', `/api/servers/${server.id}`)).json.data.isOnline, true, 'the monitor went on')
  unsubscribe()
  const count = results.length
  await sleep(600)
  t.equal(results.length, count, 'no result after unsubscribe')
})

t.test('setMaintenance: the status carries maintenance: true while inside, and each change is one statusChange without a flip', async t => {
  const api = await startApp(t, { monitor: false })
  const events = await connectEvents(api.url)
  t.teardown(() => events.close())
  const server = (await api.call('POST', '/api/config/servers', validServer({ name: 'patched' }))).json.data
  const status = async () => (await api.call('GET', `/api/servers/${server.id}`)).json.data
  t.notOk('maintenance' in await status(), 'absent outside a window')

  const monitor = api.app.estatus.monitor
  monitor.setMaintenance(server.id, true)
  monitor.setMaintenance(server.id, true)
  t.equal((await status()).maintenance, true)
  t.equal((await api.call('GET', '/api/servers')).json.data[0].maintenance, true, 'in the list too')
  monitor.setMaintenance(server.id, false)
  monitor.setMaintenance('server-999', true)
  t.notOk('maintenance' in await status(), 'absent again after it')

  const changes = await waitFor(() => {
    const found = statusChanges(events.messages)
    return found.length >= 2 ? found : null
  }, 5000, 'two statusChange events')
  await sleep(200)
  t.same(statusChanges(events.messages).map(({ update }) => [update.serverId, update.isOnline, update.previousStatus, (update as { maintenance?: boolean }).maintenance]),
    [[server.id, false, false, true], [server.id, false, false, false]], 'one per change, isOnline unchanged, none for an unknown server')
  t.equal(changes.length, 2)
})
