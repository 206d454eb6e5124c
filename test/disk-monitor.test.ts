/**
 * Disk monitoring end to end (SPEC §3.6, §5 diskUpdate, §6.2): the real app on 127.0.0.1,
 * a raw SSE client on /api/events and GET /api/servers/:id, against a REAL Net-SNMP
 * `snmpd` (test/snmpd.ts) and the fake ONTAP filer (test/fake-ontap.ts).
 *
 * Timing: assertions count rounds and events or compare orders; every wait is a `waitFor`
 * with a generous bound, so a loaded machine makes the file slower, not red.
 */
import t from 'tap'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { isDeepStrictEqual } from 'node:util'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startApp, type Running, type Test } from './support/app.ts'
import { sleep, waitFor } from './support/wait.ts'
import { startSnmpd, snmpget, snmpwalk, snmpEnv, type Snmpd, type SnmpAgentAddress } from './support/snmpd.ts'
import { startFakeOntap, type FakeLun } from './support/fake-ontap.ts'
import { frameReader } from './support/sse.ts'
import type { MonitorResult } from '../plugins/monitor/index.ts'

const execFileP = promisify(execFile)
const MiB = 1048576
const GiB = 1024 * MiB
const HR = '1.3.6.1.2.1.25.2.3.1'
const USER = 'monitor'
const PASSWORD = 'Filer-Secret-pw-42'

// ---------------------------------------------------------------------------
// An SSE client: node:http, one JSON `data:` line per message, frames read by support/sse.ts.

interface Received { at: number, data: any }

interface EventStream {
  events: Received[]
  /** Everything the stream sent, as text. */
  raw: () => string
  /** The `update` of every diskUpdate of one server, in arrival order. */
  diskUpdates: (serverId: string) => any[]
  /** The diskUpdate messages (with arrival time) of one server. */
  diskEvents: (serverId: string) => Received[]
  /** How many serverUpdated messages of one server arrived so far. */
  serverUpdates: (serverId: string) => number
  /** The `update` of every diskUpdate of one server after its `count`th serverUpdated, in stream order (none before that arrived). */
  diskUpdatesAfter: (serverId: string, count: number) => any[]
}

async function openEvents (t: Test, base: string): Promise<EventStream> {
  const events: Received[] = []
  let raw = ''
  const read = frameReader(({ data }) => {
    for (const line of data) events.push({ at: Date.now(), data: JSON.parse(line) })
  })
  const req = httpRequest(base + '/api/events', { headers: { accept: 'text/event-stream' }, agent: false })
  req.on('error', () => {})
  t.teardown(() => { req.destroy() })
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve)
    req.once('error', reject)
    req.end()
  })
  if (res.statusCode !== 200) throw new Error(`GET /api/events answered ${String(res.statusCode)}`)
  res.setEncoding('utf8')
  res.on('error', () => {})
  res.on('data', (chunk: string) => {
    raw += chunk
    read(chunk)
  })
  await waitFor(() => events.some(e => e.data.type === 'initial'), 10000, 'the initial message')
  const diskEvents = (serverId: string) => events.filter(e => e.data.type === 'diskUpdate' && e.data.update.serverId === serverId)
  const isServerUpdate = (e: Received, serverId: string) => e.data.type === 'serverUpdated' && e.data.server.id === serverId
  const diskUpdatesAfter = (serverId: string, count: number) => {
    const start = events.filter(e => isServerUpdate(e, serverId))[count]
    if (start === undefined) return []
    return events.slice(events.indexOf(start) + 1).filter(e => e.data.type === 'diskUpdate' && e.data.update.serverId === serverId).map(e => e.data.update)
  }
  return {
    events,
    raw: () => raw,
    diskEvents,
    diskUpdates: serverId => diskEvents(serverId).map(e => e.data.update),
    serverUpdates: serverId => events.filter(e => isServerUpdate(e, serverId)).length,
    diskUpdatesAfter
  }
}

// ---------------------------------------------------------------------------
// API helpers

async function addServer (api: Running, body: Record<string, unknown>): Promise<string> {
  const answer = await api.call('POST', '/api/config/servers', body)
  if (answer.status !== 201) throw new Error(`POST /api/config/servers: ${answer.status} ${answer.text}`)
  return answer.json.data.id as string
}

async function putServer (api: Running, id: string, body: Record<string, unknown>): Promise<void> {
  const answer = await api.call('PUT', `/api/config/servers/${id}`, body)
  if (answer.status !== 200) throw new Error(`PUT /api/config/servers/${id}: ${answer.status} ${answer.text}`)
}

async function statusOf (api: Running, id: string): Promise<any> {
  const answer = await api.call('GET', `/api/servers/${id}`)
  if (answer.status !== 200) throw new Error(`GET /api/servers/${id}: ${answer.status} ${answer.text}`)
  return answer.json.data
}

/** Polls until `check` gives a value; on time-out shows the last value it saw. */
interface Asserts { same (found: unknown, wanted: unknown, message: string): unknown }

async function converge<T> (t: Asserts, check: () => Promise<{ done: boolean, got: T, want: T }>, timeoutMs: number, what: string): Promise<T> {
  let last: { done: boolean, got: T, want: T } | undefined
  try {
    await waitFor(async () => { last = await check(); return last.done }, timeoutMs, what)
  } catch (err) {
    if (last !== undefined) t.same(last.got, last.want, `${what} (last seen)`)
    throw err
  }
  return last!.got
}

// ---------------------------------------------------------------------------
// SNMP helpers

type Expected = Record<string, unknown>

/** The DiskInfo of SPEC §3.6 for these hrStorage rows, computed from what `snmpget` reads now. */
async function snmpgetDisks (agent: SnmpAgentAddress, disks: Array<{ index: number, name?: string }>): Promise<Expected[]> {
  const col = (c: number) => disks.map(d => `${HR}.${c}.${d.index}`)
  const values = await snmpget(agent, [...col(3), ...col(4), ...col(5), ...col(6)])
  const k = disks.length
  return disks.map((d, n) => {
    const units = Number(values[k + n])
    const size = Number(values[2 * k + n])
    const used = Number(values[3 * k + n])
    const disk: Expected = {
      total: Math.round(size * units / MiB),
      used: Math.round(used * units / MiB),
      free: Math.round(Math.max(0, size - used) * units / MiB),
      percentage: size > 0 ? Math.round(used / size * 100) : 0,
      description: JSON.parse(values[n]!) as string, // -Oqv prints strings quoted
      index: d.index,
      source: 'snmp'
    }
    if (d.name !== undefined) disk.name = d.name
    return disk
  })
}

/** snmpInPkts.0: datagrams the agent received (our own query included). */
async function snmpInPkts (agent: SnmpAgentAddress): Promise<number> {
  const { stdout } = await execFileP('snmpget', ['-v2c', '-c', agent.community, '-On', '-Oqv', '-t', '3', '-r', '0',
    `127.0.0.1:${agent.port}`, '1.3.6.1.2.1.11.1.0'], { env: snmpEnv(agent.dir) })
  return Number(stdout.trim())
}

const expectedLun = (lun: FakeLun, name: string): Expected => ({
  total: Math.round(lun.size / MiB),
  used: Math.round(lun.used / MiB),
  free: Math.round((lun.size - lun.used) / MiB),
  percentage: Math.round(lun.used / lun.size * 100),
  name,
  description: lun.path,
  source: 'netapp'
})

const netapp = (apiType: 'rest' | 'zapi', luns: Array<{ name: string, path: string }>, enabled = true) =>
  ({ enabled, apiType, username: USER, password: PASSWORD, luns, verifyTls: false })

// ---------------------------------------------------------------------------

let agent: Snmpd
let rootIndex: number
let memIndex: number

t.before(async () => {
  agent = await startSnmpd()
  // Real rows of this agent: "/" (a filesystem) and "Physical memory".
  const descrs = await snmpwalk(agent, `${HR}.3`)
  const byDescr = new Map(descrs.map(([oid, v]) => [JSON.parse(v) as string, Number(oid.split('.').pop())]))
  const types = await snmpwalk(agent, `${HR}.2`)
  const ofType = (type: string) => types.filter(([, v]) => v === type).map(([oid]) => Number(oid.split('.').pop()))
  rootIndex = byDescr.get('/') ?? ofType('.1.3.6.1.2.1.25.2.1.4')[0]!
  memIndex = byDescr.get('Physical memory') ?? ofType('.1.3.6.1.2.1.25.2.1.2')[0]!
  if (rootIndex === undefined || memIndex === undefined) throw new Error(`no filesystem / memory row in ${JSON.stringify(descrs)}`)
})
t.teardown(async () => { await agent?.stop() })

t.test('SNMP disks: diskInfo = snmpget figures, the same in a diskUpdate, the community never shown', async (t) => {
  const api = await startApp(t, { snmpPort: agent.port, snmpCommunity: 'not-' + agent.community, diskIntervalMs: 1000 })
  const stream = await openEvents(t, api.url)
  const disks = [{ index: rootIndex, name: 'root' }, { index: memIndex, name: 'ram' }]
  const id = await addServer(api, {
    name: 'snmp-host',
    ip: '10.0.0.1',
    dnsAddress: '127.0.0.1',
    snmp: { enabled: true, community: agent.community, disks }
  })

  // The monitor's figures equal what snmpget reads (memory moves: retry until they agree).
  const diskInfo = await converge(t, async () => {
    const [status, want] = await Promise.all([statusOf(api, id), snmpgetDisks(agent, disks)])
    return { done: isDeepStrictEqual(status.diskInfo, want), got: status.diskInfo, want }
  }, 30000, 'GET /api/servers/:id diskInfo equals snmpget')
  t.equal(diskInfo.length, 2)
  t.match(diskInfo, [
    { index: rootIndex, name: 'root', description: '/', source: 'snmp' },
    { index: memIndex, name: 'ram', source: 'snmp' }
  ], 'configured order, names from the config, descriptions from hrStorageDescr')
  t.ok(diskInfo[0].total > 0 && diskInfo[1].total > 0, 'non-empty rows')

  // The latest diskUpdate of this server carries the same diskInfo as the status.
  await converge(t, async () => {
    const status = await statusOf(api, id)
    const last = stream.diskUpdates(id).at(-1)
    return { done: last !== undefined && isDeepStrictEqual(last.diskInfo, status.diskInfo), got: last?.diskInfo, want: status.diskInfo }
  }, 15000, 'the last diskUpdate equals the status')
  const updates = stream.diskUpdates(id)
  t.ok(updates.length >= 1, `${updates.length} diskUpdate(s)`)
  for (const update of updates) {
    t.match(update, { serverId: id, name: 'snmp-host', timestamp: String }, 'diskUpdate fields')
    t.notOk('error' in update, 'no error')
    t.equal(update.diskInfo.length, 2, 'both disks in one diskInfo')
  }

  // The community (server's own; the app default is a different one) appears nowhere.
  const seen = [stream.raw()]
  for (const path of ['/api/servers', `/api/servers/${id}`, '/api/config/servers', `/api/config/servers/${id}`, '/health', '/api/servers/stats/summary']) {
    seen.push((await api.call('GET', path)).text)
  }
  const config = (await api.call('GET', `/api/config/servers/${id}`)).json.data
  t.equal(config.snmp.community, '********', 'the config shows the mask')
  t.notOk(seen.join('\n').includes(agent.community), 'the community is in no event and no GET')
})

t.test('a missing index (9999) fails that disk only', async (t) => {
  const api = await startApp(t, { snmpPort: agent.port, diskIntervalMs: 1000 })
  const stream = await openEvents(t, api.url)
  const id = await addServer(api, {
    name: 'ghost-host',
    ip: '10.0.0.2',
    dnsAddress: '127.0.0.1',
    snmp: { enabled: true, community: agent.community, disks: [{ index: rootIndex, name: 'root' }, { index: 9999, name: 'ghost' }, { index: memIndex }] }
  })
  const [first] = await waitFor(() => { const u = stream.diskUpdates(id); return u.length > 0 ? u : undefined }, 15000, 'a diskUpdate')
  t.match(first.error, /storage index 9999 not found/, 'the error names index 9999')
  t.notMatch(first.error, new RegExp(`index (${rootIndex}|${memIndex})\\b`), 'and no other index')
  t.notOk(first.error.includes(agent.community), 'no community in the error')
  t.same(first.diskInfo.map((d: any) => [d.index, d.name, d.source]), [[rootIndex, 'root', 'snmp'], [memIndex, undefined, 'snmp']],
    'the other disks are read, in configured order')
  t.ok(first.diskInfo.every((d: any) => d.total > 0), 'with figures')
  const status = await statusOf(api, id)
  t.same(status.diskInfo.map((d: any) => d.index), [rootIndex, memIndex], 'GET: the two readable disks')
  for (const update of stream.diskUpdates(id)) t.match(update.error, /9999/, 'every diskUpdate carries the error while it persists')
})

t.test('agent stopped: ONE failing diskUpdate over several rounds; restarted: it recovers once', async (t) => {
  let own = await startSnmpd()
  t.teardown(async () => { await own.stop() })
  const { port, community } = own
  const api = await startApp(t, { snmpPort: port, diskIntervalMs: 1000 })
  const stream = await openEvents(t, api.url)
  const id = await addServer(api, {
    name: 'flappy',
    ip: '10.0.0.3',
    dnsAddress: '127.0.0.1',
    snmp: { enabled: true, community, disks: [{ index: rootIndex, name: 'root' }] }
  })
  await waitFor(() => stream.diskUpdates(id).find(u => u.error === undefined && u.diskInfo?.length === 1), 15000, 'a first good read')

  const beforeStop = stream.diskUpdates(id).length
  await own.stop()
  const failing = await waitFor(() => stream.diskUpdates(id).slice(beforeStop).find(u => u.error !== undefined), 15000, 'a failing diskUpdate')
  t.match(failing.error, `SNMP request to 127.0.0.1:${port} timed out`, 'the error says the agent does not answer')
  t.notOk(failing.error.includes(community), 'no community in the error')
  t.match(failing, { serverId: id, name: 'flappy' })
  // Rounds go on every second (each times out in 800 ms): wait for several of them.
  await sleep(5000)
  const whileStopped = stream.diskUpdates(id).slice(beforeStop)
  t.equal(whileStopped.filter(u => u.error !== undefined).length, 1, 'exactly one failing diskUpdate over ~5 failing rounds')
  t.equal(whileStopped.at(-1), failing, 'nothing after it while the agent is down')
  t.same((await statusOf(api, id)).diskInfo, failing.diskInfo, 'GET agrees with the event')

  const beforeStart = stream.diskUpdates(id).length
  own = await startSnmpd({ port, community })
  const recovered = await waitFor(() => stream.diskUpdates(id)[beforeStart], 15000, 'a recovering diskUpdate')
  t.notOk('error' in recovered, 'the first diskUpdate after the restart has no error')
  t.match(recovered.diskInfo, [{ index: rootIndex, name: 'root', source: 'snmp', description: '/' }], 'and the disk again')
  await sleep(3000)
  const afterStart = stream.diskUpdates(id).slice(beforeStart)
  t.equal(afterStart.filter(u => u.error !== undefined).length, 0, 'no failing diskUpdate after the restart')
  t.comment(`${afterStart.length} diskUpdate(s) after the restart (one, plus any change of the figures)`)
  t.notOk((await statusOf(api, id)).diskInfo === null)
})

t.test('NetApp LUNs (REST and ZAPI) after the SNMP disks, in ONE diskInfo, in configured order', async (t) => {
  const luns: FakeLun[] = [
    { path: '/vol/vol1/lun_a', size: 10 * GiB, used: 2.5 * GiB },
    { path: '/vol/vol2/lun_b', size: 1024 * GiB, used: 700 * GiB + 3 * MiB },
    { path: '/vol/vol1/lun_c', size: 5 * GiB, used: 1 * GiB } // not configured
  ]
  const fake = await startFakeOntap({ luns, username: USER, password: PASSWORD, pageSize: 1 })
  t.teardown(() => fake.close())
  // The app bounds a read by 80 % of the interval: 1 s would give the paged TLS reads 800 ms, too
  // little on a loaded machine, and only first rounds are looked at here.
  const api = await startApp(t, { snmpPort: agent.port, netappPort: fake.port, diskIntervalMs: 5000 })
  const stream = await openEvents(t, api.url)
  const restId = await addServer(api, {
    name: 'rest-filer',
    ip: '10.0.0.4',
    dnsAddress: '127.0.0.1',
    snmp: { enabled: true, community: agent.community, disks: [{ index: rootIndex, name: 'root' }, { index: memIndex, name: 'ram' }] },
    netapp: netapp('rest', [{ name: 'archive', path: '/vol/vol2/lun_b' }, { name: 'data', path: '/vol/vol1/lun_a' }])
  })
  const zapiId = await addServer(api, {
    name: 'zapi-filer',
    ip: '10.0.0.5',
    dnsAddress: '127.0.0.1',
    snmp: { enabled: true, community: agent.community, disks: [{ index: memIndex, name: 'ram' }] },
    netapp: netapp('zapi', [{ name: 'data', path: '/vol/vol1/lun_a' }, { name: 'archive', path: '/vol/vol2/lun_b' }])
  })
  const archive = expectedLun(luns[1]!, 'archive')
  const data = expectedLun(luns[0]!, 'data')
  t.match(archive, { total: 1048576, used: 716803, free: 331773, percentage: 68 }, 'expected figures (sanity)')

  const cases = [
    { id: restId, snmp: [[rootIndex, 'root'], [memIndex, 'ram']], luns: [archive, data] },
    { id: zapiId, snmp: [[memIndex, 'ram']], luns: [data, archive] }
  ]
  for (const c of cases) {
    const [first] = await waitFor(() => { const u = stream.diskUpdates(c.id); return u.length > 0 ? u : undefined }, 30000, 'a diskUpdate')
    t.notOk('error' in first, 'no error')
    const check = (diskInfo: any[], where: string) => {
      t.same(diskInfo.map(d => d.source), [...c.snmp.map(() => 'snmp'), ...c.luns.map(() => 'netapp')], `${where}: SNMP disks first, then LUNs`)
      t.same(diskInfo.slice(0, c.snmp.length).map(d => [d.index, d.name]), c.snmp, `${where}: SNMP disks in configured order`)
      t.same(diskInfo.slice(c.snmp.length), c.luns, `${where}: LUNs in configured order, figures of the filer`)
    }
    check(first.diskInfo, 'the first diskUpdate')
    check((await statusOf(api, c.id)).diskInfo, 'GET')
    for (const update of stream.diskUpdates(c.id)) t.equal(update.diskInfo.length, c.snmp.length + c.luns.length, 'every diskUpdate has all disks')
  }
  t.ok(fake.log.some(r => r.method === 'GET' && r.url.startsWith('/api/storage/luns') && r.authorized), 'REST asked, authorized')
  t.ok(fake.log.some(r => r.method === 'POST' && r.url.includes('XMLrequest_filer') && r.authorized), 'ZAPI asked, authorized')
  t.ok(fake.log.every(r => r.authorized), 'every request authorized')
  const seen = [stream.raw(), (await api.call('GET', '/api/servers')).text, (await api.call('GET', '/api/config/servers')).text]
  t.notOk(seen.join('\n').includes(PASSWORD), 'the password is in no event and no GET')
  t.notOk(seen.join('\n').includes(agent.community), 'nor the community')
})

t.test('a hanging filer never delays another server\'s disk rounds', async (t) => {
  const live: FakeLun = { path: '/vol/live/lun0', size: 100 * GiB, used: 0 }
  const healthy = await startFakeOntap({ luns: [live], username: USER, password: PASSWORD, pageSize: 1000 })
  t.teardown(() => healthy.close())
  const stuck = await startFakeOntap({ luns: [live], username: USER, password: PASSWORD, pageSize: 1000, hang: true, host: '127.0.0.3', port: healthy.port })
  t.teardown(() => stuck.close())
  // The healthy LUN grows by 1 MiB every 100 ms, so each of its rounds sends a diskUpdate.
  let step = 0
  const grow = setInterval(() => { healthy.set({ luns: [{ ...live, used: ++step * MiB }] }) }, 100)
  t.teardown(() => clearInterval(grow))

  // 2 s rounds: a filer that does not answer times out after 1.6 s (0.8 × interval).
  const api = await startApp(t, { netappPort: healthy.port, diskIntervalMs: 2000 })
  const stream = await openEvents(t, api.url)
  // The hanging one first: a loop over servers in order would make the other wait.
  const stuckId = await addServer(api, { name: 'stuck', ip: '10.0.0.6', dnsAddress: '127.0.0.3', netapp: netapp('rest', [{ name: 'l', path: live.path }]) })
  const okId = await addServer(api, { name: 'healthy', ip: '10.0.0.7', dnsAddress: '127.0.0.1', netapp: netapp('rest', [{ name: 'l', path: live.path }]) })

  const failing = await waitFor(() => stream.diskEvents(stuckId)[0], 15000, 'the hanging filer\'s diskUpdate')
  t.match(failing.data.update, { serverId: stuckId, diskInfo: null, error: /NetApp REST API request to 127\.0\.0\.3:\d+ timed out after 1600 ms/ },
    'the hanging filer times out with a clear error')
  const firstOk = await waitFor(() => stream.diskEvents(okId)[0], 15000, 'the healthy filer\'s diskUpdate')
  t.ok(firstOk.at < failing.at, 'the healthy server reported before the hanging one had even timed out')

  // Over the next 6 rounds of the hanging filer (> 5 intervals), the healthy one keeps its
  // cadence: 5–6 diskUpdates (a loop waiting 1.6 s on the hanging filer would manage ~3).
  const stuckRequests = stuck.requests
  const okEvents = stream.diskEvents(okId).length
  await waitFor(() => stuck.requests >= stuckRequests + 6, 40000, '6 more requests to the hanging filer')
  const during = stream.diskEvents(okId).slice(okEvents)
  t.ok(during.length >= 4, `${during.length} healthy diskUpdates during 6 rounds of the hanging filer (nominal 5–6)`)
  const all = stream.diskUpdates(okId)
  t.ok(all.every(u => u.error === undefined && u.diskInfo?.length === 1 && u.diskInfo[0].source === 'netapp'), 'healthy: no error, its LUN')
  const used = all.map(u => u.diskInfo[0].used as number)
  t.ok(used.every((u, i) => i === 0 || u > used[i - 1]!), `healthy figures move every round: ${used.join(', ')}`)
  const gaps = stream.diskEvents(okId).map((e, i, a) => i === 0 ? 0 : e.at - a[i - 1]!.at).slice(1)
  t.comment(`healthy diskUpdate gaps (ms): ${gaps.join(', ')}`)
  t.equal(stream.diskUpdates(stuckId).length, 1, 'the hanging filer: one failing diskUpdate, however many rounds')

  // Disabling the hanging filer clears its error for the dashboard.
  const before = stream.diskUpdates(stuckId).length
  await putServer(api, stuckId, { name: 'stuck', ip: '10.0.0.6', dnsAddress: '127.0.0.3', netapp: netapp('rest', [{ name: 'l', path: live.path }], false) })
  const cleared = await waitFor(() => stream.diskUpdates(stuckId)[before], 10000, 'a diskUpdate after disabling')
  t.same(cleared.diskInfo, null, 'diskInfo null')
  t.notOk('error' in cleared, 'no error any more')
})

t.test('config deltas: rename keeps the rounds, a new disk list restarts them', async (t) => {
  // Long rounds: a restart (first round within ≤ 1 s) is then far from a regular round (15 s).
  const fake = await startFakeOntap({ luns: [{ path: '/vol/v/l', size: 4 * GiB, used: 1 * GiB }], username: USER, password: PASSWORD, pageSize: 1000 })
  t.teardown(() => fake.close())
  const api = await startApp(t, { snmpPort: agent.port, netappPort: fake.port, diskIntervalMs: 15000 })
  const stream = await openEvents(t, api.url)
  const base = {
    ip: '10.0.0.8',
    dnsAddress: '127.0.0.1',
    snmp: { enabled: true, community: agent.community, disks: [{ index: rootIndex, name: 'root' }] },
    netapp: netapp('rest', [{ name: 'lun', path: '/vol/v/l' }])
  }
  const id = await addServer(api, { name: 'before', ...base })
  const first = await waitFor(() => stream.diskUpdates(id)[0], 10000, 'the first round')
  t.equal(first.diskInfo.length, 2)
  t.equal(fake.requests, 1, 'one request: the first round')

  await putServer(api, id, { name: 'after', ...base, consecutiveFailures: 3 })
  t.equal((await statusOf(api, id)).name, 'after', 'renamed at once')
  await sleep(2500)
  t.equal(fake.requests, 1, 'rename (and a threshold): no extra round')
  t.equal(stream.diskUpdates(id).length, 1, 'and no diskUpdate')

  // Another disk list: the rounds restart at once, with the new list and the new name.
  await putServer(api, id, { name: 'after', ...base, snmp: { ...base.snmp, disks: [{ index: rootIndex, name: 'root' }, { index: memIndex, name: 'ram' }] } })
  const next = await waitFor(() => stream.diskUpdates(id)[1], 10000, 'a diskUpdate of the restarted rounds (well before the 15 s round)')
  t.same(next.diskInfo.map((d: any) => [d.source, d.index ?? null, d.name]), [['snmp', rootIndex, 'root'], ['snmp', memIndex, 'ram'], ['netapp', null, 'lun']])
  t.equal(next.name, 'after', 'the new name in the diskUpdate')
  t.equal(fake.requests, 2, 'one more round')
  t.notOk(stream.raw().includes(agent.community), 'the community is never sent')
})

t.test('config deltas: disabling or deleting stops the requests; disabling all sends diskInfo null', async (t) => {
  const own = await startSnmpd() // its own agent: snmpInPkts counts only this test's traffic
  t.teardown(() => own.stop())
  const fake = await startFakeOntap({ luns: [{ path: '/vol/v/l', size: 4 * GiB, used: 1 * GiB }], username: USER, password: PASSWORD, pageSize: 1000 })
  t.teardown(() => fake.close())
  // Servers here set no community: the app default is used.
  const api = await startApp(t, { snmpPort: own.port, snmpCommunity: own.community, netappPort: fake.port, diskIntervalMs: 1000 })
  const stream = await openEvents(t, api.url)
  const server = (snmp: boolean, filer: boolean) => ({
    name: 'deltas',
    ip: '10.0.0.9',
    dnsAddress: '127.0.0.1',
    snmp: { enabled: snmp, disks: [{ index: rootIndex, name: 'root' }] },
    netapp: netapp('rest', [{ name: 'lun', path: '/vol/v/l' }], filer)
  })
  /** Requests seen over 3 s, counted once what was in flight has settled. */
  const traffic = async () => {
    await sleep(1500)
    const [f0, p0] = [fake.requests, await snmpInPkts(own)]
    await sleep(3000)
    const [f1, p1] = [fake.requests, await snmpInPkts(own)]
    return { filer: f1 - f0, snmp: p1 - p0 - 1 } // minus our own query
  }
  const sources = (u: any) => u.diskInfo === null ? null : u.diskInfo.map((d: any) => d.source).join(',')

  const id = await addServer(api, server(true, true))
  await waitFor(() => stream.diskUpdates(id).find(u => sources(u) === 'snmp,netapp' && u.error === undefined), 15000, 'both read')

  await putServer(api, id, server(true, false))
  await waitFor(() => stream.diskUpdates(id).find(u => sources(u) === 'snmp'), 15000, 'only the SNMP disk')
  let seen = await traffic()
  t.equal(seen.filer, 0, 'NetApp disabled: no request to the filer')
  t.ok(seen.snmp >= 2, `SNMP still read (${seen.snmp} requests in 3 s)`)

  // A round read before the PUT may still be on its way (on a busy disk '/' changes every
  // round): what counts is what the stream carries after the PUT's serverUpdated.
  const updatesBefore = stream.serverUpdates(id)
  await putServer(api, id, server(false, false))
  const nulled = await waitFor(() => stream.diskUpdatesAfter(id, updatesBefore)[0], 10000, 'a diskUpdate')
  t.same(nulled.diskInfo, null, 'both disabled: diskUpdate with diskInfo null')
  t.notOk('error' in nulled)
  t.same((await statusOf(api, id)).diskInfo, null, 'GET: null')
  seen = await traffic()
  t.same(seen, { filer: 0, snmp: 0 }, 'no request at all')
  t.equal(stream.diskUpdatesAfter(id, updatesBefore).length, 1, 'no further diskUpdate')

  await putServer(api, id, server(true, true))
  let before = stream.diskUpdates(id).length
  await waitFor(() => stream.diskUpdates(id).slice(before).find(u => sources(u) === 'snmp,netapp'), 15000, 'both read again')
  const filerBefore = fake.requests
  await waitFor(() => fake.requests >= filerBefore + 2, 15000, 'filer requests again')

  const deleted = await api.call('DELETE', `/api/config/servers/${id}`)
  t.equal(deleted.status, 200)
  await waitFor(() => stream.events.some(e => e.data.type === 'serverRemoved' && e.data.serverId === id), 10_000, 'serverRemoved')
  before = stream.diskUpdates(id).length
  seen = await traffic()
  t.same(seen, { filer: 0, snmp: 0 }, 'deleted: no request at all')
  t.equal(stream.diskUpdates(id).length, before, 'and no diskUpdate')
  t.equal((await api.call('GET', `/api/servers/${id}`)).status, 404)
})

t.test('a disk round in flight is aborted: the hanging filer sees its connection closed at once, nothing is reported', async (t) => {
  const lun: FakeLun = { path: '/vol/v/l', size: 4 * GiB, used: 1 * GiB }
  const server = (luns: Array<{ name: string, path: string }>) => ({ name: 'hung', ip: '10.0.0.10', dnsAddress: '127.0.0.1', netapp: netapp('rest', luns) })
  const one = [{ name: 'l', path: lun.path }]

  /** A filer that never answers, and an app whose one server's first round hangs on it. */
  async function roundInFlight (t: Test) {
    const hung = await startFakeOntap({ luns: [lun], username: USER, password: PASSWORD, pageSize: 1000, hang: true })
    t.teardown(() => hung.close())
    // 20 s rounds: the NetApp request of a round would only time out after 10 s.
    const api = await startApp(t, { netappPort: hung.port, diskIntervalMs: 20000 })
    const stream = await openEvents(t, api.url)
    const id = await addServer(api, server(one))
    await waitFor(() => hung.requests === 1 && hung.openConnections === 1, 10_000, 'a round in flight')
    return { hung, api, stream, id }
  }
  const notReported = (t: Asserts & { notOk (v: unknown, m: string): unknown }, stream: EventStream, id: string) => {
    t.same(stream.diskUpdates(id), [], 'the aborted round is not reported')
    t.notOk(stream.raw().includes('aborted'), 'nor is "aborted" in any event')
  }

  t.test('app.close()', async (t) => {
    const { hung, api, stream, id } = await roundInFlight(t)
    const started = Date.now()
    await api.app.close()
    const closeMs = Date.now() - started
    // Waiting for the round would take its 10 s time-out.
    t.ok(closeMs < 5000, `app.close() resolved after ${closeMs} ms`)
    await waitFor(() => hung.openConnections === 0, 5000, 'the filer to see its connection closed after app.close()')
    t.comment(`connection closed ${Date.now() - started} ms after app.close() began`)
    notReported(t, stream, id)
  })

  t.test('deleting the server', async (t) => {
    const { hung, api, stream, id } = await roundInFlight(t)
    t.equal((await api.call('DELETE', `/api/config/servers/${id}`)).status, 200)
    const started = Date.now()
    await waitFor(() => hung.openConnections === 0, 5000, 'the filer to see its connection closed after the DELETE')
    t.comment(`connection closed ${Date.now() - started} ms after the DELETE`)
    notReported(t, stream, id)
  })

  t.test('another disk list', async (t) => {
    const { hung, api, stream, id } = await roundInFlight(t)
    const [requests, closed] = [hung.requests, hung.closedConnections]
    await putServer(api, id, server([...one, { name: 'm', path: '/vol/v/m' }]))
    const started = Date.now()
    await waitFor(() => hung.closedConnections > closed, 5000, 'the old round\'s connection to close after the PUT')
    t.comment(`old round's connection closed ${Date.now() - started} ms after the PUT`)
    await waitFor(() => hung.requests === requests + 1 && hung.openConnections === 1, 10_000, 'the restarted round in flight')
    t.pass('the restarted round asks again')
    notReported(t, stream, id)
  })
})

/** The frames a client resuming after `lastEventId` is sent, read until `until` appears. */
async function resumeFrom (t: Test, base: string, lastEventId: string, until: string): Promise<string> {
  let raw = ''
  const req = httpRequest(base + '/api/events', { headers: { accept: 'text/event-stream', 'last-event-id': lastEventId }, agent: false })
  req.on('error', () => {})
  t.teardown(() => { req.destroy() })
  req.on('response', res => {
    res.setEncoding('utf8')
    res.on('error', () => {})
    res.on('data', (chunk: string) => { raw += chunk })
  })
  req.end()
  await waitFor(() => raw.includes(until), 10000, `the replayed ${until}`)
  return raw
}

t.test('a filer that echoes the credentials: status + short reason, no form of them in events, the replay, the status API or onResult', async (t) => {
  const password = 'Filer pw/+&=42!'
  const fake = await startFakeOntap({ luns: [{ path: '/vol/vol1/lun1', size: GiB, used: 0 }], username: USER, password, pageSize: 10, echoCredentials: true })
  t.teardown(() => fake.close())
  const api = await startApp(t, { netappPort: fake.port, diskIntervalMs: 1000, replayEvents: 100 })
  const results: MonitorResult[] = []
  api.app.estatus.monitor.onResult(result => { if (result.kind === 'disks') results.push(result) })
  const stream = await openEvents(t, api.url)
  const before = /^id: (\d+)$/m.exec(stream.raw())?.[1] ?? ''
  const filer = (apiType: 'rest' | 'zapi') => ({ enabled: true, apiType, username: USER, password, luns: [{ name: 'one', path: '/vol/vol1/lun1' }], verifyTls: false })
  const ids = [
    await addServer(api, { name: 'echo-rest', ip: '10.0.0.6', dnsAddress: '127.0.0.1', netapp: filer('rest') }),
    await addServer(api, { name: 'echo-zapi', ip: '10.0.0.7', dnsAddress: '127.0.0.1', netapp: filer('zapi') })
  ]
  const errors = []
  for (const id of ids) {
    const [update] = await waitFor(() => { const u = stream.diskUpdates(id); return u.length > 0 ? u : undefined }, 15000, 'a failing diskUpdate')
    errors.push(update.error as string)
  }
  t.match(errors[0], /^NetApp REST API at 127\.0\.0\.1:\d+ answered HTTP 500: request rejected: Authorization: Basic \*+/, 'REST: status and the filer\'s reason')
  t.match(errors[1], /^NetApp ZAPI lun-get-iter failed at 127\.0\.0\.1:\d+: request rejected: Authorization: Basic \*+/, 'ZAPI: the same')
  t.ok(errors.every(error => error.length <= 300), 'short')
  t.ok(fake.log.length >= 2 && fake.log.every(r => r.authorized), 'the filer was asked with the credentials (and echoed them)')
  await waitFor(() => ids.every(id => results.some(r => r.serverId === id && r.kind === 'disks' && r.error !== undefined)), 15000, 'disk results')

  const seen = [
    stream.raw(),
    await resumeFrom(t, api.url, before, 'echo-zapi'),
    (await api.call('GET', '/api/servers')).text,
    ...await Promise.all(ids.map(async id => (await api.call('GET', `/api/servers/${id}`)).text)),
    (await api.call('GET', '/api/config/servers')).text,
    JSON.stringify(results)
  ].join('\n')
  t.match(seen, 'request rejected', 'the echoed text reached these places')
  const forms = {
    plain: password,
    'URL-encoded': encodeURIComponent(password),
    'form-encoded': new URLSearchParams({ p: password }).toString().slice(2),
    'Base64 of user:password': Buffer.from(`${USER}:${password}`).toString('base64'),
    'Base64 of the password': Buffer.from(password).toString('base64')
  }
  for (const [name, form] of Object.entries(forms)) t.notOk(seen.includes(form), `no ${name} password anywhere`)
})
