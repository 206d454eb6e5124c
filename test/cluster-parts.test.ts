// The parts of cluster mode (SPEC §12) that the three-node tests cannot pin down: the lease
// never has two holders, the event log's tail never skips a row that commits late, and
// pruning keeps what a starting node needs. Real PostgreSQL (a throw-away cluster).
import t from 'tap'
import Fastify from 'fastify'
import { startPostgres, type PostgresCluster } from './support/postgres.ts'
import { sleep, waitFor } from './support/wait.ts'
import { openDatabase, type Database } from '../lib/cluster/database.ts'
import { migrate } from '../lib/cluster/migrations.ts'
import { appendRows, createLogTail, pruneLog, resumable } from '../lib/cluster/event-log.ts'
import { saveStatuses, loadStatuses } from '../lib/cluster/statuses.ts'
import type { ServerStatus } from '../schemas/status.ts'
import { createLease, type Lease } from '../lib/cluster/lease.ts'
import type { Test } from './support/app.ts'

const log = Fastify({ logger: false }).log
let postgres: PostgresCluster
t.before(async () => { postgres = await startPostgres() })
t.teardown(() => postgres?.stop())

let databases = 0
async function freshDatabase (t: Test, count = 1): Promise<Database[]> {
  const url = await postgres.createDatabase(`parts_${++databases}`)
  const opened: Database[] = []
  for (let i = 0; i < count; i++) opened.push(await openDatabase(url, log))
  t.teardown(() => Promise.all(opened.map(database => database.close().catch(() => {}))))
  await migrate(opened[0]!.pool)
  return opened
}

// A sixth of the real 2 s / 6 s, so the expiry is quick; not smaller, so a loaded machine's
// timer delays stay well inside the margin (TTL / 4) the bounds below rely on.
const RENEW_MS = 400
const TTL_MS = 2400

t.test('the lease: one leader at a time, a handover at close, a takeover only after the expiry', async t => {
  const [a, b] = await freshDatabase(t, 2) as [Database, Database]
  const events: string[] = []
  let overlap = 0
  const lease = (database: Database, name: string): Lease => createLease({
    database,
    log,
    holder: name,
    renewMs: RENEW_MS,
    ttlMs: TTL_MS,
    gained: () => { events.push(`${name} gained`) },
    lost: () => { events.push(`${name} lost`) }
  })
  const leaseA = lease(a, 'a')
  leaseA.start()
  await waitFor(() => leaseA.leading, 10_000, 'a leads')
  const leaseB = lease(b, 'b')
  leaseB.start()
  const sampler = setInterval(() => { if (leaseA.leading && leaseB.leading) overlap++ }, 5)
  t.teardown(() => clearInterval(sampler))
  await sleep(TTL_MS + 400)
  t.notOk(leaseB.leading, 'b does not take a lease that is renewed')

  // a's database goes away (its pool ends): a cannot renew, and stops before b can take over.
  const cutAt = Date.now()
  await a.pool.end()
  await waitFor(() => !leaseA.leading, 10_000, 'a steps down')
  const stepDownMs = Date.now() - cutAt
  await waitFor(() => leaseB.leading, 10_000, 'b takes over')
  const takeoverMs = Date.now() - cutAt
  t.ok(stepDownMs <= TTL_MS, `a stopped ${stepDownMs} ms after its last chance to renew (ttl ${TTL_MS} ms)`)
  t.ok(takeoverMs >= stepDownMs, `b took over after a had stopped (${takeoverMs} ms)`)
  t.equal(leaseB.term, 2, 'a new leader, a new term')

  // b hands over at close: a third node (on b's connections) leads at once, not after the expiry.
  const leaseC = lease(b, 'c')
  leaseC.start()
  await sleep(300)
  t.notOk(leaseC.leading, 'c waits while b leads')
  const closedAt = Date.now()
  await leaseB.close()
  await waitFor(() => leaseC.leading, 10_000, 'c leads')
  t.ok(Date.now() - closedAt < TTL_MS / 2, `c leads ${Date.now() - closedAt} ms after b closed: handed over, not expired (ttl ${TTL_MS} ms)`)
  await leaseC.close()
  await leaseA.close()
  clearInterval(sampler)
  t.equal(overlap, 0, 'never two leaders at once (sampled every 5 ms)')
  t.same(events, ['a gained', 'a lost', 'b gained', 'b lost', 'c gained', 'c lost'])
})

t.test('the tail never skips a row that commits after a later one was drawn', async t => {
  const [writer, reader] = await freshDatabase(t, 2) as [Database, Database]
  const handed: number[] = []
  const tail = createLogTail({ database: reader, log, from: 0, handle: rows => { for (const row of rows) handed.push(row.id) } })
  t.teardown(() => tail.close())
  // Eight writers at once, each holding its transaction open a random while after drawing its id.
  await Promise.all(Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; i < 15; i++) {
      await writer.transaction(async client => {
        await appendRows(client, [{ kind: 'event', version: null, payload: `{"w":${w},"i":${i}}` }])
        await sleep(Math.random() * 15)
      })
      void tail.catchUp()
    }
  }))
  await tail.catchUp()
  const { rows } = await reader.pool.query<{ id: string }>('SELECT id FROM event_log ORDER BY id')
  t.equal(handed.length, 120, 'every row handed over once')
  t.same(handed, rows.map(row => Number(row.id)), 'in id order, none skipped')
})

t.test('pruning the log keeps the configuration changes after the newest snapshot', async t => {
  const [database] = await freshDatabase(t) as [Database]
  const insert = (kind: 'config' | 'event', version: number | null, ageMs: number) => database.pool.query(
    "INSERT INTO event_log (kind, version, payload, at) VALUES ($1, $2, '[]', now() - $3 * interval '1 millisecond') RETURNING id", [kind, version, ageMs])
  const DAY = 86_400_000
  await insert('config', 1, 3 * DAY)
  await insert('event', null, 3 * DAY)
  const { rows: [snapshotRow] } = await insert('config', 2, 2 * DAY)
  await database.pool.query("INSERT INTO config_snapshots (version, event_id, document) VALUES (2, $1, '{}')", [snapshotRow.id])
  await insert('config', 3, 2 * DAY)
  await insert('event', null, 2 * DAY)
  await insert('event', null, 1000)
  const { rows: [{ id: newestOld }] } = await database.pool.query("SELECT max(id) AS id FROM event_log WHERE kind = 'event' AND at < now() - interval '1 day'")
  t.ok(await resumable(database.pool, 0), 'before pruning, a resume from the start can be served')
  t.equal(await pruneLog(database.pool), 4, 'four rows pruned')
  t.notOk(await resumable(database.pool, Number(newestOld) - 1), 'a resume from before the newest pruned event is not served from the log (a snapshot instead)')
  t.ok(await resumable(database.pool, Number(newestOld)), 'one from after it is')
  const { rows } = await database.pool.query<{ kind: string, version: string | null }>('SELECT kind, version FROM event_log ORDER BY id')
  t.same(rows.map(row => `${row.kind}:${row.version ?? ''}`), ['config:3', 'event:'],
    'kept: the change after the snapshot (old, but a starting node needs it) and the recent event')
})

t.test('a leader that lost the lease writes nothing: its writes are fenced with its term', async t => {
  const [database] = await freshDatabase(t) as [Database]
  const status = (isOnline: boolean): ServerStatus => ({
    id: 'server-1',
    name: 'x',
    ip: '10.0.0.1',
    isOnline,
    consecutiveSuccesses: 0,
    consecutiveFailures: 0,
    lastChecked: '2026-01-01T00:00:00.000Z',
    lastStatusChange: '2026-01-01T00:00:00.000Z',
    diskInfo: null
  })
  await database.pool.query("UPDATE leader_lease SET holder = 'a', term = 1, expires_at = now() + interval '1 minute'")
  t.ok(await saveStatuses(database, [status(true)], { holder: 'a', term: 1 }), 'the leader of term 1 saves')
  await database.pool.query("UPDATE leader_lease SET holder = 'b', term = 2")
  t.notOk(await saveStatuses(database, [status(false)], { holder: 'a', term: 1 }), 'after b took over, a\'s save is refused')
  t.equal((await loadStatuses(database)).get('server-1')?.isOnline, true, 'and changed nothing')
  await database.pool.query("UPDATE leader_lease SET holder = 'a', term = 3")
  t.notOk(await saveStatuses(database, [status(false)], { holder: 'a', term: 1 }), 'nor when a leads again, in a new term')
})
