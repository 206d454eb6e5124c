/**
 * SPEC §12 with real parts: three server.ts processes on one throw-away PostgreSQL, real SSE
 * clients on each, real HTTP writes.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { startPostgres, type PostgresCluster } from './support/postgres.ts'
import { spawnServer, type ServerProcess } from './support/server-process.ts'
import { connectEvents, type RawEventClient } from './support/sse.ts'
import { waitFor, sleep } from './support/wait.ts'
import type { Test } from './support/app.ts'
import pg from 'pg'
import { createTestHosts, netnsSkipReason } from './support/netns.ts'
import { startHttpReceiver } from './support/alert-receivers.ts'
import type { Alert } from '../schemas/alerts.ts'

// Fifteen server starts and real outages: on a loaded 2-core machine this file takes minutes.
t.setTimeout(600_000)

let postgres: PostgresCluster
t.before(async () => { postgres = await startPostgres() })
t.teardown(() => postgres?.stop())

let databases = 0
/** Three nodes on a new database; `env` adds to each node's environment. */
async function startNodes (t: Test, env: Record<string, string> = {}, count = 3) {
  const url = await postgres.createDatabase(`cluster_${++databases}`)
  const dir = await mkdtemp(join(tmpdir(), 'estatus-cluster-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const nodes: ServerProcess[] = []
  for (let i = 0; i < count; i++) {
    nodes.push(await spawnServer(t, {
      // Each node its own (unused) data folder: nothing of the configuration may come from a file.
      dataFile: join(dir, `node-${i}`, 'estatus.json'),
      env: { ESTATUS_DATABASE_URL: url, ESTATUS_HEARTBEAT_MS: '60000', ...env }
    }))
  }
  return { url, nodes }
}

async function call (base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const answer = await request(base + path, {
    method: method as 'GET',
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await answer.body.text()
  return { status: answer.statusCode, etag: answer.headers.etag as string | undefined, body: text === '' ? null : JSON.parse(text) }
}

const configEvents = (client: RawEventClient) =>
  client.messages.filter(message => ['serverAdded', 'serverUpdated', 'serverRemoved', 'groupsChanged'].includes(message.type))
const idsOf = (client: RawEventClient) => configEvents(client).map(message => message.id)

const server = (name: string, ip: string) => ({ name, ip, dnsAddress: ip })

// The first three share one cluster (and its starts): each leaves it as the next expects, the
// last stops a node.
t.test('three nodes on one database', async t => {
  // A ring of 5: a client gone for longer is served from the event log.
  const { url, nodes } = await startNodes(t, { ESTATUS_REPLAY_EVENTS: '5' })

  await t.test('a write on one node reaches the event clients of every node, once each, in one order', async t => {
    const clients = await Promise.all(nodes.map(node => connectEvents(node.url)))
    t.teardown(() => { for (const client of clients) client.close() })
    await waitFor(() => clients.every(client => client.messages.some(message => message.type === 'initial')), 10_000, 'initial snapshots')

    const writes = 30
    for (let i = 0; i < writes; i++) {
      const node = nodes[i % 3]!
      const created = await call(node.url, 'POST', '/api/config/servers', server(`web-${i}`, `127.0.1.${i + 1}`))
      t.equal(created.status, 201, `create ${i} on node ${i % 3}`)
    }
    await waitFor(() => clients.every(client => configEvents(client).length >= writes + 0), 10_000, 'every event on every node')
    await sleep(300)
    const orders = clients.map(idsOf)
    t.equal(orders[0]!.length, writes, 'each client got each event once')
    t.same(orders[1], orders[0], 'node B: the same ids in the same order')
    t.same(orders[2], orders[0], 'node C: the same ids in the same order')
    t.same(configEvents(clients[1]!).map(message => (message as { server: { name: string } }).server.name),
      Array.from({ length: writes }, (_, i) => `web-${i}`), 'in the order they were written')
    const lists = await Promise.all(nodes.map(node => call(node.url, 'GET', '/api/config/servers')))
    for (const list of lists) t.equal(list.body.data.length, writes, 'every node lists every server')

    // A node that joins later (no snapshot yet: fewer than 100 versions) starts from the log.
    const late = await spawnServer(t, { dataFile: join(await mkdtemp(join(tmpdir(), 'estatus-late-')), 'estatus.json'), env: { ESTATUS_DATABASE_URL: url } })
    const lateList = await call(late.url, 'GET', '/api/config/servers')
    t.same(lateList.body.data.map((item: { name: string }) => item.name), Array.from({ length: writes }, (_, i) => `web-${i}`), 'a node started later serves the same configuration')
  })

  await t.test('a client of one node resumes on another with Last-Event-ID: exactly what it missed, from the ring or the log', async t => {
    const [a, b, c] = nodes as [ServerProcess, ServerProcess, ServerProcess]
    const first = await connectEvents(a.url)
    t.teardown(() => first.close())
    await call(a.url, 'POST', '/api/config/servers', server('seen-1', '127.0.2.1'))
    await call(b.url, 'POST', '/api/config/servers', server('seen-2', '127.0.2.2'))
    await waitFor(() => configEvents(first).length === 2, 10_000, 'two events on A')
    const lastSeen = configEvents(first).at(-1)!.id!
    first.close()

    for (const [round, missed] of [[1, 3], [2, 12]] as const) {
      const names = Array.from({ length: missed }, (_, i) => `missed-${round}-${i}`)
      for (const [i, name] of names.entries()) await call(nodes[i % 3]!.url, 'POST', '/api/config/servers', server(name, `127.0.${2 + round}.${i + 1}`))
      // What every node's clients saw, for comparison.
      const witness = await connectEvents(c.url, { 'last-event-id': lastSeen })
      const resumed = await connectEvents(b.url, { 'last-event-id': lastSeen })
      t.teardown(() => { witness.close(); resumed.close() })
      const expected = round === 1 ? names : ['missed-1-0', 'missed-1-1', 'missed-1-2', ...names]
      await waitFor(() => configEvents(resumed).length >= expected.length, 10_000, `round ${round}: the missed events on B`)
      await sleep(200)
      t.notOk(resumed.messages.some(message => message.type === 'initial'), `round ${round}: no snapshot, a resume`)
      t.same(configEvents(resumed).map(message => (message as { server: { name: string } }).server.name), expected,
      `round ${round}: exactly the ${expected.length} events after ${lastSeen}, in order (${round === 1 ? 'from the ring' : 'beyond the ring of 5: from the log'})`)
      await waitFor(() => configEvents(witness).length >= expected.length, 10_000, 'the witness')
      t.same(idsOf(resumed), idsOf(witness), `round ${round}: the same ids as on node C`)
      resumed.close()
      witness.close()
    }
  })

  await t.test('concurrent writes on all three nodes: none lost, ids unique; a stale If-Match gets 409; a stopped leader hands over', async t => {
    const before = (await call(nodes[0]!.url, 'GET', '/api/config/servers')).body.data.length as number
    const perNode = 15
    const answers = await Promise.all(nodes.flatMap((node, n) => Array.from({ length: perNode }, (_, i) =>
      call(node.url, 'POST', '/api/config/servers', server(`n${n}-s${i}`, `127.0.${10 + n}.${i + 1}`)))))
    t.same(answers.map(answer => answer.status), answers.map(() => 201), `all ${answers.length} creates answered 201`)
    const ids = answers.map(answer => answer.body.data.id as string)
    t.equal(new Set(ids).size, ids.length, 'every created server got its own id')
    for (const node of nodes) {
      const list = await waitFor(async () => {
        const answer = await call(node.url, 'GET', '/api/config/servers')
        return answer.body.data.length === before + ids.length ? answer.body.data as Array<{ id: string }> : null
      }, 10_000, 'every server on every node')
      t.same(list.slice(before).map(item => item.id).sort(), [...ids].sort(), 'each node lists all of them')
    }

    const [a, b, c] = nodes as [ServerProcess, ServerProcess, ServerProcess]
    const target = ids[0]!
    const read = await call(a.url, 'GET', `/api/config/servers/${target}`)
    t.ok(read.etag, 'an ETag to send back')
    const changed = await call(b.url, 'PUT', `/api/config/servers/${target}`, server('renamed-on-b', '127.0.20.1'), { 'if-match': read.etag! })
    t.equal(changed.status, 200, 'the first update with that ETag lands (node B)')
    const stale = await call(c.url, 'PUT', `/api/config/servers/${target}`, server('renamed-on-c', '127.0.20.2'), { 'if-match': read.etag! })
    t.equal(stale.status, 409, 'the same ETag on node C: 409')
    t.match(stale.body.error, /changed by someone else/)
    // Read on C: it answered 409 only once it had B's change (other nodes may not have read it yet).
    const final = await call(c.url, 'GET', `/api/config/servers/${target}`)
    t.equal(final.body.data.name, 'renamed-on-b', 'the stale write changed nothing')

    // A leader stopped in order hands over at once: no 6 s of expiry.
    const db = await inspect(t, url)
    const leaderNow = await waitFor(() => leaderPid(db), 15_000, 'a leader')
    const stopping = nodes.find(node => node.pid === leaderNow)!
    const stoppedAt = Date.now()
    stopping.proc.kill('SIGTERM')
    await stopping.exited
    const next = await waitFor(async () => { const pid = await leaderPid(db); return pid !== null && pid !== leaderNow ? pid : null }, 15_000, 'the next leader')
    const handoverMs = Date.now() - stoppedAt
    t.ok(nodes.some(node => node.pid === next), 'a surviving node leads')
    t.ok(handoverMs < 6000, `SIGTERM of the leader: the next one leads ${handoverMs} ms later (handed over, not expired after 6 s)`)
    const leaderGauges = await Promise.all(nodes.filter(node => node !== stopping).map(async node => {
      const text = await (await request(node.url + '/metrics')).body.text()
      return [node.pid === next, /^estatus_leader (\d)$/m.exec(text)?.[1]] as const
    }))
    for (const [isLeader, gauge] of leaderGauges) t.equal(gauge, isLeader ? '1' : '0', `estatus_leader on ${isLeader ? 'the leader' : 'a follower'}`)
  })
})

/** A connection of the test's own to the nodes' database; ended at teardown. */
async function inspect (t: Test, url: string) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

/** The pid of the node holding an unexpired lease (holder is `host:pid:random`), or null. */
async function leaderPid (db: pg.Client): Promise<number | null> {
  const { rows } = await db.query<{ holder: string | null, live: boolean }>('SELECT holder, expires_at > now() AS live FROM leader_lease')
  const { holder, live } = rows[0]!
  return holder !== null && live ? Number(holder.split(':').at(-2)) : null
}

const statusChanges = (client: RawEventClient, serverId: string) =>
  client.messages.filter(message => message.type === 'statusChange' && message.update.serverId === serverId) as Array<{ type: 'statusChange', update: { isOnline: boolean }, id?: string }>

t.test('SIGKILL of the leader while a host is down: another node leads within 10 s, the alert comes once, no flip is invented', { skip: netnsSkipReason() }, async t => {
  const hosts = await createTestHosts(t)
  const receiver = await startHttpReceiver(t)
  const { url, nodes } = await startNodes(t, { ESTATUS_PING_INTERVAL_MS: '200', ESTATUS_THRESHOLD: '2', ESTATUS_FPING_PATH: hosts.fpingWrapper })
  const db = await inspect(t, url)
  const firstLeader = await waitFor(() => leaderPid(db), 15_000, 'a leader')
  const leader = nodes.find(node => node.pid === firstLeader)!
  const followers = nodes.filter(node => node !== leader)
  t.ok(leader, 'the lease names one of the three nodes')

  // Configured through a follower: every node serves the whole API.
  const api = followers[0]!.url
  const created = await call(api, 'POST', '/api/config/servers', server('db-1', '10.9.9.1'))
  const serverId = created.body.data.id as string
  await call(api, 'PUT', `/api/config/servers/${serverId}`, { ...server('db-1', '10.9.9.1'), dnsAddress: hosts.hostAddress })
  const channel = await call(api, 'POST', '/api/config/channels', { name: 'hook', type: 'webhook', url: `${receiver.url}/alerts` })
  const rule = await call(api, 'POST', '/api/config/alert-rules', { name: 'on-call', enabled: true, scope: { serverIds: [], groupIds: [] }, on: ['down', 'up'], channelIds: [channel.body.data.id], forSeconds: 2 })
  t.equal(rule.status, 201, 'a rule: down after 2 s')
  // A follower knows the server once it has read the change from the log: until then, 404.
  await waitFor(async () => (await call(followers[1]!.url, 'GET', `/api/servers/${serverId}`)).body.data?.isOnline, 20_000, 'the host online, as seen on a follower')

  const clients = await Promise.all(followers.map(node => connectEvents(node.url)))
  t.teardown(() => { for (const client of clients) client.close() })
  await hosts.addressesDown()
  await waitFor(() => clients.every(client => statusChanges(client, serverId).some(change => !change.update.isOnline)), 15_000, 'offline on the followers')
  // Killed at once: the `down` (2 s later) is the next leader's to send.
  leader.proc.kill('SIGKILL')
  const killedAt = Date.now()
  const nextLeader = await waitFor(async () => {
    const pid = await leaderPid(db)
    return pid !== null && pid !== leader.pid ? pid : null
  }, 15_000, 'a new leader')
  const failoverMs = Date.now() - killedAt
  t.ok(failoverMs < 10_000, `another node leads ${failoverMs} ms after the kill (within 10 s)`)
  t.ok(followers.some(node => node.pid === nextLeader), 'one of the surviving nodes')

  const downs = () => receiver.requests.filter(request => (request.json as Alert).kind === 'down')
  await waitFor(() => downs().length > 0, 30_000, 'the down alert')
  await sleep(4000)
  t.equal(downs().length, 1, 'the down alert is delivered exactly once')
  t.equal((downs()[0]!.json as Alert).server.id, serverId)
  for (const client of clients) {
    t.same(statusChanges(client, serverId).map(change => change.update.isOnline), [false], 'no flip invented on a follower: one statusChange, offline')
  }

  await hosts.addressesUp()
  await waitFor(() => receiver.requests.some(request => (request.json as Alert).kind === 'up'), 30_000, 'the up alert from the new leader')
  await waitFor(() => clients.every(client => statusChanges(client, serverId).length >= 2), 10_000, 'the online flip on every client')
  // Room for a second alert or flip to show, if there were one.
  await sleep(2000)
  t.equal(receiver.requests.filter(request => (request.json as Alert).kind === 'up').length, 1, 'one up')
  for (const client of clients) t.same(statusChanges(client, serverId).map(change => change.update.isOnline), [false, true], 'then online once')
  const keys = receiver.requests.map(request => request.headers['x-estatus-delivery'])
  t.equal(new Set(keys).size, keys.length, 'no delivery key twice')
})

t.test('PostgreSQL stopped for 10 s: reads answer, writes get 503, /health degraded; then everything resumes and clients miss nothing', async t => {
  // Where namespaces can be made, a host also goes down while the database is away: the leader
  // sees it then, and its statusChange must reach every client once the database is back.
  const hosts = netnsSkipReason() === false ? await createTestHosts(t) : null
  const { url, nodes } = await startNodes(t, hosts === null ? {} : { ESTATUS_PING_INTERVAL_MS: '200', ESTATUS_THRESHOLD: '2', ESTATUS_FPING_PATH: hosts.fpingWrapper })
  for (const [i, node] of nodes.entries()) await call(node.url, 'POST', '/api/config/servers', server(`before-${i}`, `127.0.30.${i + 1}`))
  const host = hosts === null ? null : (await call(nodes[0]!.url, 'POST', '/api/config/servers', { ...server('far-1', '10.9.9.2'), dnsAddress: hosts.hostAddress })).body.data.id as string
  if (host !== null) await waitFor(async () => (await call(nodes[1]!.url, 'GET', `/api/servers/${host}`)).body.data?.isOnline, 20_000, 'the host online')
  const clients = await Promise.all(nodes.map(node => connectEvents(node.url)))
  t.teardown(() => { for (const client of clients) client.close() })
  await waitFor(() => clients.every(client => client.messages.some(message => message.type === 'initial')), 10_000, 'snapshots')

  await postgres.pause()
  const stoppedAt = Date.now()
  await hosts?.addressesDown()
  let reads = 0
  let refused = 0
  while (Date.now() - stoppedAt < 10_000) {
    for (const node of nodes) {
      const list = await call(node.url, 'GET', '/api/config/servers')
      if (list.status === 200 && list.body.data.length === (host === null ? 3 : 4)) reads++
      const write = await call(node.url, 'POST', '/api/config/servers', server('during', '127.0.31.1'))
      if (write.status === 503 && /database/i.test(write.body.error)) refused++
      else t.fail(`a write while the database is down answered ${write.status}`)
    }
    await sleep(500)
  }
  t.ok(reads > 0 && refused > 0, `${reads} reads answered with the last known state, ${refused} writes refused with 503`)
  for (const node of nodes) {
    const health = await call(node.url, 'GET', '/health')
    t.equal(health.body.status, 'degraded', '/health is degraded')
    t.equal(health.body.checks.store.readOnly, true, 'and says the store is read-only')
    t.match(health.body.checks.store.error, /database/)
  }
  t.ok(clients.every(client => client.messages.length > 0), 'the event streams stay open')

  await postgres.start()
  for (const node of nodes) {
    await waitFor(async () => (await call(node.url, 'GET', '/health')).body.checks.store.ok, 20_000, 'the store healthy again')
  }
  for (const [i, node] of nodes.entries()) {
    const created = await call(node.url, 'POST', '/api/config/servers', server(`after-${i}`, `127.0.32.${i + 1}`))
    t.equal(created.status, 201, `a write on node ${i} lands once the database is back`, { body: created.body, log: created.status === 201 ? '' : node.output().slice(-2500) })
  }
  await waitFor(() => clients.every(client => configEvents(client).length >= 3), 15_000, 'the new events on every client')
  if (host !== null) await waitFor(() => clients.every(client => statusChanges(client, host).length > 0), 20_000, 'the host\'s statusChange on every client')
  const db = await inspect(t, url)
  const since = Number(clients[0]!.messages.find(message => message.type === 'initial')!.id)
  const { rows } = await db.query<{ id: string }>("SELECT id FROM event_log WHERE kind = 'event' AND id > $1 ORDER BY id", [since])
  const logged = rows.map(row => row.id)
  // The log may grow meanwhile (the leader's probes): compare up to its last row read above.
  const last = Number(logged.at(-1))
  for (const client of clients) {
    await waitFor(() => client.messages.some(message => Number(message.id) >= last), 10_000, 'the client at the last logged event')
    const seen = client.messages.filter(message => message.id !== undefined && message.type !== 'initial' && Number(message.id) <= last).map(message => message.id)
    t.same(seen, logged, 'every event in the log since the snapshot reached the client, once, in order')
  }
  t.same(configEvents(clients[2]!).map(message => (message as { server: { name: string } }).server.name), ['after-0', 'after-1', 'after-2'])
  if (host !== null) {
    for (const client of clients) {
      t.same(statusChanges(client, host).map(change => change.update.isOnline), [false], 'the host that went down while the database was away: offline, once, on every client')
    }
  }
})
