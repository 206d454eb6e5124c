// The alert outbox's storage (OutboxStorage): one table of cases run against SQLite and
// PostgreSQL alike, then what only PostgreSQL has: several nodes on one database (SPEC §12).
import t, { type Test } from 'tap'
import type { Alert, AlertKind } from '../schemas/alerts.ts'
import type { OutboxStorage, QueuedDelivery } from '../plugins/alerts/outbox-storage.ts'
import { createSqliteOutbox } from '../plugins/alerts/sqlite-outbox.ts'
import { OUTBOX_SCHEMA, createPgOutbox } from '../plugins/alerts/pg-outbox.ts'
import { deliveryKey } from '../plugins/alerts/outbox.ts'
import { runConformance, storageBackends, type ConformanceCase } from './support/conformance.ts'
import { startPostgres } from './support/postgres.ts'
import { databaseWith, poolOn } from './support/pg-database.ts'
import { sleep } from './support/wait.ts'

const T0 = Date.UTC(2026, 0, 1)
const MIN = 60_000
const DAY = 86_400_000
const iso = (ms: number) => new Date(ms).toISOString()

const server = (n: number) => ({ id: `server-${n}`, name: `web-${n}`, ip: `10.0.0.${n}` })

/** An alert of rule-1 about server-1 at T0 + `minute` minutes, its condition holding since a minute before. */
function alert (id: string, kind: AlertKind, minute: number, more: Partial<Alert> = {}): Alert {
  return {
    id,
    kind,
    rule: { id: 'rule-1', name: 'Servers down' },
    server: server(1),
    groups: [],
    at: iso(T0 + minute * MIN),
    since: iso(T0 + (minute - 1) * MIN),
    message: `${kind} ${id}`,
    ...more
  }
}
const to = (a: Alert, ...channelIds: string[]) => channelIds.map(channelId => ({ channelId, key: deliveryKey(a.id, channelId) }))
const key = (a: Alert, channelId: string) => deliveryKey(a.id, channelId)
/** A queue as `<alert>/<channel>`. */
const names = (queue: QueuedDelivery[]) => queue.map(delivery => `${delivery.alert.id}/${delivery.channelId}`)
/** The delivery a worker would hold, for `downFailed`. */
const queued = (a: Alert, channelId: string): QueuedDelivery => ({ key: key(a, channelId), channelId, attempts: 0, createdAt: 0, nextAttemptAt: 0, alert: a, body: '' })
const everything = (storage: OutboxStorage) => storage.list(0, T0 + 1000 * DAY, 1000)
/** Each entry's deliveries as `[alert, channel, state, attempts, lastError]`. */
async function states (storage: OutboxStorage) {
  return (await everything(storage)).flatMap(entry => entry.deliveries.map(d => [entry.id, d.channelId, d.state, d.attempts, d.lastError]))
}

const cluster = await startPostgres()
t.teardown(() => cluster.stop())

const backends = storageBackends(cluster, OUTBOX_SCHEMA, createSqliteOutbox, pool => createPgOutbox(pool))

type Case = ConformanceCase<OutboxStorage>

const cases: Case[] = [{
  name: 'add and queue: a channel\'s deliveries in the order added; a delivery as its worker sees it',
  async run (storage) {
    const a1 = alert('a1', 'down', 0)
    const a2 = alert('a2', 'down', 1, { server: server(2) })
    const a3 = alert('a3', 'up', 2)
    await storage.add(a1, to(a1, 'ch-1', 'ch-2'), T0)
    await storage.add(a2, to(a2, 'ch-2'), T0 + MIN)
    await storage.add(a3, to(a3, 'ch-1', 'ch-2'), T0 + 2 * MIN)
    const [head] = await storage.queue('ch-1', 1)
    return {
      head,
      again: names(await storage.queue('ch-1', 1)),
      ch1: names(await storage.queue('ch-1', 10)),
      ch2: names(await storage.queue('ch-2', 10)),
      ch2First: names(await storage.queue('ch-2', 2)),
      unknown: await storage.queue('ch-9', 10),
      channels: (await storage.pendingChannels()).sort()
    }
  },
  expected: {
    head: { key: deliveryKey('a1', 'ch-1'), channelId: 'ch-1', attempts: 0, createdAt: T0, nextAttemptAt: T0, alert: alert('a1', 'down', 0), body: JSON.stringify(alert('a1', 'down', 0)) },
    again: ['a1/ch-1'],
    ch1: ['a1/ch-1', 'a3/ch-1'],
    ch2: ['a1/ch-2', 'a2/ch-2', 'a3/ch-2'],
    ch2First: ['a1/ch-2', 'a2/ch-2'],
    unknown: [],
    channels: ['ch-1', 'ch-2']
  }
}, {
  name: 'add: an alert already stored and a channel\'s delivery already there are left as they are; adds in flight commit in the order asked',
  async run (storage) {
    const a1 = alert('a1', 'down', 0)
    await storage.add(a1, to(a1, 'ch-1'), T0)
    await storage.record({ key: key(a1, 'ch-1'), at: T0 + 1000, state: 'pending', nextAttemptAt: T0 + 5000, error: 'HTTP 503' })
    await storage.add({ ...a1, message: 'changed' }, to(a1, 'ch-1', 'ch-2'), T0 + MIN)
    const burst = Array.from({ length: 20 }, (_, n) => alert(`b${n}`, 'down', 10 + n))
    await Promise.all(burst.map(a => storage.add(a, to(a, 'ch-3'), T0)))
    const [entry] = await storage.list(T0, T0, 10)
    return {
      message: entry!.message,
      deliveries: entry!.deliveries.map(d => [d.channelId, d.state, d.attempts, d.lastError]),
      head: (await storage.queue('ch-1', 1)).map(d => [d.createdAt, d.nextAttemptAt]),
      burst: names(await storage.queue('ch-3', 50))
    }
  },
  expected: {
    message: 'down a1',
    deliveries: [['ch-1', 'pending', 1, 'HTTP 503'], ['ch-2', 'pending', 0, null]],
    head: [[T0, T0 + 5000]],
    burst: Array.from({ length: 20 }, (_, n) => `b${n}/ch-3`)
  }
}, {
  name: 'add: a test alert\'s delivery is stored with its one attempt',
  async run (storage) {
    const test = alert('t1', 'test', 0)
    await storage.add(test, [
      { channelId: 'ch-1', key: key(test, 'ch-1'), attempt: { at: T0 + 500, state: 'delivered', error: null } },
      { channelId: 'ch-2', key: key(test, 'ch-2'), attempt: { at: T0 + 700, state: 'failed', error: 'HTTP 500: error 500' } }
    ], T0)
    return { log: await everything(storage), pending: await storage.pendingChannels() }
  },
  expected: {
    log: [{
      ...alert('t1', 'test', 0),
      deliveries: [
        { channelId: 'ch-1', key: deliveryKey('t1', 'ch-1'), state: 'delivered', attempts: 1, lastAttemptAt: iso(T0 + 500), deliveredAt: iso(T0 + 500), nextAttemptAt: null, lastError: null },
        { channelId: 'ch-2', key: deliveryKey('t1', 'ch-2'), state: 'failed', attempts: 1, lastAttemptAt: iso(T0 + 700), deliveredAt: null, nextAttemptAt: null, lastError: 'HTTP 500: error 500' }
      ]
    }],
    pending: []
  }
}, {
  name: 'record: a failed attempt stays pending with its error and next attempt; delivered keeps the last error; a finished delivery is not changed again',
  async run (storage) {
    const a1 = alert('a1', 'down', 0)
    const a2 = alert('a2', 'down', 1)
    await storage.add(a1, to(a1, 'ch-1'), T0)
    await storage.add(a2, to(a2, 'ch-1'), T0)
    await storage.record({ key: key(a1, 'ch-1'), at: T0 + 1000, state: 'pending', nextAttemptAt: T0 + 61_000, error: 'HTTP 503' })
    const retrying = (await storage.queue('ch-1', 1)).map(d => [d.attempts, d.nextAttemptAt])
    const logged = (await everything(storage)).find(entry => entry.id === 'a1')!.deliveries[0]
    await storage.record({ key: key(a1, 'ch-1'), at: T0 + 61_000, state: 'delivered', nextAttemptAt: null, error: null })
    await storage.record({ key: key(a1, 'ch-1'), at: T0 + 70_000, state: 'failed', nextAttemptAt: null, error: 'too late' })
    await storage.record({ key: key(a2, 'ch-1'), at: T0 + 62_000, state: 'failed', nextAttemptAt: null, error: 'HTTP 404' })
    const log = await everything(storage)
    return { retrying, logged, log: log.map(entry => entry.deliveries[0]), queue: await storage.queue('ch-1', 10), pending: await storage.pendingChannels() }
  },
  expected: {
    retrying: [[1, T0 + 61_000]],
    logged: { channelId: 'ch-1', key: deliveryKey('a1', 'ch-1'), state: 'pending', attempts: 1, lastAttemptAt: iso(T0 + 1000), deliveredAt: null, nextAttemptAt: iso(T0 + 61_000), lastError: 'HTTP 503' },
    log: [
      { channelId: 'ch-1', key: deliveryKey('a2', 'ch-1'), state: 'failed', attempts: 1, lastAttemptAt: iso(T0 + 62_000), deliveredAt: null, nextAttemptAt: null, lastError: 'HTTP 404' },
      { channelId: 'ch-1', key: deliveryKey('a1', 'ch-1'), state: 'delivered', attempts: 2, lastAttemptAt: iso(T0 + 61_000), deliveredAt: iso(T0 + 61_000), nextAttemptAt: null, lastError: 'HTTP 503' }
    ],
    queue: [],
    pending: []
  }
}, {
  name: 'abandon: a channel\'s pending deliveries committed before a time, or all; fail: one, without an attempt',
  async run (storage) {
    const a1 = alert('a1', 'down', 0)
    const a2 = alert('a2', 'up', 1)
    const a3 = alert('a3', 'down', 2)
    const a4 = alert('a4', 'disk', 3)
    await storage.add(a1, to(a1, 'ch-1', 'ch-2'), T0)
    await storage.add(a2, to(a2, 'ch-1'), T0 + 10 * MIN)
    await storage.add(a3, to(a3, 'ch-1'), T0 + 20 * MIN)
    await storage.add(a4, to(a4, 'ch-2'), T0 + 20 * MIN)
    await storage.record({ key: key(a1, 'ch-1'), at: T0 + 1000, state: 'pending', nextAttemptAt: T0 + 2000, error: 'HTTP 503' })
    const old = (await storage.abandon('ch-1', T0 + 15 * MIN, 'gave up after 24 h')).sort()
    const left = names(await storage.queue('ch-1', 10))
    const rest = await storage.abandon('ch-1', null, 'the channel no longer exists')
    const none = await storage.abandon('ch-1', null, 'again')
    await storage.fail(key(a4, 'ch-2'), 'its down alert was not delivered')
    return { old, left, rest, none, ch2: names(await storage.queue('ch-2', 10)), states: await states(storage), log: (await everything(storage)).at(-1)!.deliveries[0] }
  },
  expected: {
    old: ['down', 'up'],
    left: ['a3/ch-1'],
    rest: ['down'],
    none: [],
    ch2: ['a1/ch-2'],
    states: [
      ['a4', 'ch-2', 'failed', 0, 'its down alert was not delivered'],
      ['a3', 'ch-1', 'failed', 0, 'the channel no longer exists'],
      ['a2', 'ch-1', 'failed', 0, 'gave up after 24 h'],
      ['a1', 'ch-1', 'failed', 1, 'gave up after 24 h'],
      ['a1', 'ch-2', 'pending', 0, null]
    ],
    log: { channelId: 'ch-1', key: deliveryKey('a1', 'ch-1'), state: 'failed', attempts: 1, lastAttemptAt: iso(T0 + 1000), deliveredAt: null, nextAttemptAt: null, lastError: 'gave up after 24 h' }
  }
}, {
  name: 'downFailed: whether the latest down before an up on its channel, of its rule and server or storm group, failed',
  async run (storage) {
    const failed = async (a: Alert, ...channelIds: string[]) => {
      await storage.add(a, to(a, ...channelIds), T0)
      for (const channelId of channelIds) await storage.record({ key: key(a, channelId), at: T0, state: channelId === 'ch-1' ? 'failed' : 'delivered', nextAttemptAt: null, error: null })
    }
    const pending = async (a: Alert) => { await storage.add(a, to(a, 'ch-1', 'ch-2'), T0) }
    const storm = { group: { id: 'group-1', name: 'Rack A' }, servers: [server(3), server(4)] }
    // On ch-1 every down fails; on ch-2 every one is delivered.
    await failed(alert('d1', 'down', 0), 'ch-1', 'ch-2')
    await failed(alert('storm', 'down', 1, { server: server(3), storm }), 'ch-1', 'ch-2')
    const u1 = alert('u1', 'up', 2)
    const u2 = alert('u2', 'up', 3, { server: server(2) })
    const u4 = alert('u4', 'up', 4, { server: server(4) })
    const uStorm = alert('u-storm', 'up', 5, { server: server(3), storm })
    const other = alert('other-rule', 'up', 6, { rule: { id: 'rule-2', name: 'Other' } })
    for (const a of [u1, u2, u4, uStorm, other]) await pending(a)
    // server-1 down again, delivered this time on ch-1 too, then up again.
    const d2 = alert('d2', 'down', 7)
    await storage.add(d2, to(d2, 'ch-1'), T0)
    await storage.record({ key: key(d2, 'ch-1'), at: T0, state: 'delivered', nextAttemptAt: null, error: null })
    const u1Again = alert('u1-again', 'up', 8)
    await pending(u1Again)
    const ask = (a: Alert, channelId: string) => storage.downFailed(queued(a, channelId))
    return {
      u1: [await ask(u1, 'ch-1'), await ask(u1, 'ch-2')],
      noDown: await ask(u2, 'ch-1'),
      inStorm: await ask(u4, 'ch-1'),
      stormUp: [await ask(uStorm, 'ch-1'), await ask(uStorm, 'ch-2')],
      otherRule: await ask(other, 'ch-1'),
      latestDown: await ask(u1Again, 'ch-1')
    }
  },
  expected: { u1: [true, false], noDown: false, inStorm: true, stormUp: [true, false], otherRule: false, latestDown: false }
}, {
  name: 'retryNow: a channel\'s deliveries waiting for a later attempt are due now',
  async run (storage) {
    const a1 = alert('a1', 'down', 0)
    const a2 = alert('a2', 'down', 1)
    await storage.add(a1, to(a1, 'ch-1', 'ch-2'), T0)
    await storage.add(a2, to(a2, 'ch-1'), T0 + MIN)
    for (const channelId of ['ch-1', 'ch-2']) await storage.record({ key: key(a1, channelId), at: T0, state: 'pending', nextAttemptAt: T0 + DAY, error: 'HTTP 503' })
    await storage.retryNow('ch-1', T0 + 10 * MIN)
    const due = async (channelId: string) => (await storage.queue(channelId, 10)).map(d => d.nextAttemptAt)
    return { ch1: await due('ch-1'), ch2: await due('ch-2') }
  },
  expected: { ch1: [T0 + 10 * MIN, T0 + MIN], ch2: [T0 + DAY] }
}, {
  name: 'prune: alerts before a time none of whose deliveries is pending, with their deliveries',
  async run (storage) {
    const finished = alert('finished', 'down', 0)
    const stuck = alert('stuck', 'down', 0, { server: server(2) })
    const bare = alert('bare', 'down', 0, { server: server(3) })
    const recent = alert('recent', 'down', 2 * 24 * 60)
    for (const a of [finished, recent]) await storage.add(a, [{ ...to(a, 'ch-1')[0]!, attempt: { at: T0, state: 'delivered', error: null } }], T0)
    await storage.add(stuck, to(stuck, 'ch-1'), T0)
    await storage.add(bare, [], T0)
    const pruned = await storage.prune(T0 + DAY)
    return {
      pruned,
      left: (await everything(storage)).map(entry => entry.id),
      again: await storage.prune(T0 + DAY),
      open: (await storage.openAlerts()).map(open => open.serverId).sort(),
      queue: names(await storage.queue('ch-1', 10))
    }
  },
  expected: { pruned: 2, left: ['recent', 'stuck'], again: 0, open: ['server-1', 'server-2'], queue: ['stuck/ch-1'] }
}, {
  name: 'list: alerts in [from, to], newest first (then by id), at most limit, each with its deliveries in order',
  async run (storage) {
    const log = [alert('m0', 'down', 0), alert('m1-a', 'down', 1), alert('m1-b', 'up', 1), alert('m2', 'disk', 2), alert('m3', 'down', 3)]
    for (const a of log) await storage.add(a, to(a, 'ch-2', 'ch-1').slice(0, a.id.length % 3), T0)
    const ids = async (from: number, to: number, limit: number) => (await storage.list(from, to, limit)).map(entry => entry.id)
    return {
      inside: await ids(T0 + MIN, T0 + 2 * MIN, 10),
      limited: await ids(T0, T0 + 3 * MIN, 2),
      none: await ids(T0 + 10 * MIN, T0 + 20 * MIN, 10),
      entries: (await storage.list(T0, T0 + MIN, 10)).map(entry => ({ id: entry.id, channels: entry.deliveries.map(d => d.channelId) }))
    }
  },
  expected: {
    inside: ['m2', 'm1-b', 'm1-a'],
    limited: ['m3', 'm2'],
    none: [],
    entries: [{ id: 'm1-b', channels: ['ch-2'] }, { id: 'm1-a', channels: ['ch-2'] }, { id: 'm0', channels: ['ch-2', 'ch-1'] }]
  }
}, {
  name: 'openAlerts: per rule and server the latest of down and up if a down (a storm\'s for each server), per disk and condition the latest disk alert',
  async run (storage) {
    const storm = { group: { id: 'group-1', name: 'Rack A' }, servers: [server(3), server(4), server(5)] }
    const disk = (name: string, daysToFull?: number) => ({ disk: { name, percentage: 91, ...(daysToFull === undefined ? {} : { daysToFull }) } })
    const log = [
      alert('d1', 'down', 0),
      alert('u1', 'up', 5),
      alert('d2', 'down', 1, { server: server(2) }),
      alert('storm', 'down', 2, { server: server(3), storm }),
      alert('u4', 'up', 3, { server: server(4) }),
      alert('disk-pct', 'disk', 4, disk('/')),
      alert('disk-days', 'disk', 6, disk('/', 12.5)),
      alert('disk-data', 'disk', 7, disk('/data')),
      alert('disk-pct-again', 'disk', 8, disk('/')),
      alert('test', 'test', 9),
      alert('d1-rule-2', 'down', 9, { rule: { id: 'rule-2', name: 'Other' } }),
      // The same `at`: the one added last is the latest.
      alert('d6', 'down', 10, { server: server(6) }),
      alert('u6', 'up', 10, { server: server(6) }),
      alert('u7', 'up', 10, { server: server(7) }),
      alert('d7', 'down', 10, { server: server(7) })
    ]
    for (const a of log) await storage.add(a, [], T0)
    const order = (open: { ruleId: string, serverId: string, kind: string, disk?: { name: string, byDays: boolean } }) =>
      `${open.ruleId} ${open.serverId} ${open.kind} ${open.disk?.name ?? ''} ${open.disk?.byDays ?? ''}`
    return (await storage.openAlerts()).sort((a, b) => (order(a) < order(b) ? -1 : 1))
  },
  expected: [
    { kind: 'disk', ruleId: 'rule-1', serverId: 'server-1', at: T0 + 8 * MIN, since: T0 + 7 * MIN, disk: { name: '/', byDays: false } },
    { kind: 'disk', ruleId: 'rule-1', serverId: 'server-1', at: T0 + 6 * MIN, since: T0 + 5 * MIN, disk: { name: '/', byDays: true } },
    { kind: 'disk', ruleId: 'rule-1', serverId: 'server-1', at: T0 + 7 * MIN, since: T0 + 6 * MIN, disk: { name: '/data', byDays: false } },
    { kind: 'down', ruleId: 'rule-1', serverId: 'server-2', at: T0 + MIN, since: T0 },
    { kind: 'down', ruleId: 'rule-1', serverId: 'server-3', at: T0 + 2 * MIN, since: T0 + MIN, storm: { group: { id: 'group-1', name: 'Rack A' }, position: 0 } },
    { kind: 'down', ruleId: 'rule-1', serverId: 'server-5', at: T0 + 2 * MIN, since: T0 + MIN, storm: { group: { id: 'group-1', name: 'Rack A' }, position: 2 } },
    { kind: 'down', ruleId: 'rule-1', serverId: 'server-7', at: T0 + 10 * MIN, since: T0 + 9 * MIN },
    { kind: 'down', ruleId: 'rule-2', serverId: 'server-1', at: T0 + 9 * MIN, since: T0 + 8 * MIN }
  ]
}]

runConformance(t, backends, cases)

/** Two nodes on one database: two pools, a storage each. */
async function twoNodes (t: Test, claimMs?: number) {
  const url = await databaseWith(cluster, OUTBOX_SCHEMA)
  const [a, b] = [poolOn(t, url), poolOn(t, url)].map(pool => createPgOutbox(pool, { claimMs }))
  return { a: a!, b: b! }
}

t.test('PostgreSQL, two nodes: never the same head at once; the other goes on once the first has recorded its attempt', async t => {
  const { a, b } = await twoNodes(t)
  const log = [alert('a1', 'down', 0), alert('a2', 'up', 1), alert('a3', 'down', 2)]
  for (const each of log) await a.add(each, to(each, 'ch-1'), T0)
  await a.add(log[0]!, to(log[0]!, 'ch-2'), T0)
  const first = await Promise.all([a.queue('ch-1', 1), b.queue('ch-1', 1)])
  t.strictSame(first.map(names).sort(), [[], ['a1/ch-1']], 'one of them has the head')
  const [holder, other] = first[0]!.length === 1 ? [a, b] : [b, a]
  t.strictSame(await other.queue('ch-1', 5), [], 'the channel is the other\'s, also for a longer batch')
  t.strictSame(names(await holder.queue('ch-1', 5)), ['a1/ch-1', 'a2/ch-1', 'a3/ch-1'], 'its holder reads on')
  t.strictSame(names(await other.queue('ch-2', 5)), ['a1/ch-2'], 'another channel is free')
  await holder.record({ key: key(log[0]!, 'ch-1'), at: T0, state: 'delivered', nextAttemptAt: null, error: null })
  t.strictSame(await other.queue('ch-1', 5), [], 'what its holder read with the head stays its own')

  const { a: c, b: d } = await twoNodes(t)
  for (const each of log) await c.add(each, to(each, 'ch-1'), T0)
  t.strictSame(names(await c.queue('ch-1', 1)), ['a1/ch-1'])
  t.strictSame(await d.queue('ch-1', 1), [])
  await c.record({ key: key(log[0]!, 'ch-1'), at: T0, state: 'delivered', nextAttemptAt: null, error: null })
  t.strictSame(names(await d.queue('ch-1', 5)), ['a2/ch-1', 'a3/ch-1'], 'the head recorded, the rest is free')
  t.strictSame(await c.queue('ch-1', 5), [], 'and now the other\'s')
})

t.test('PostgreSQL: a head another node is claiming at this moment (its row locked) is left to it, not waited for', async t => {
  const pool = poolOn(t, await databaseWith(cluster, OUTBOX_SCHEMA))
  const storage = createPgOutbox(pool)
  const [a1, a2] = [alert('a1', 'down', 0), alert('a2', 'down', 1)]
  for (const each of [a1, a2]) await storage.add(each, to(each, 'ch-1'), T0)
  const other = await pool.connect()
  t.teardown(() => other.release())
  await other.query('BEGIN')
  await other.query('SELECT 1 FROM alert_deliveries WHERE key = $1 FOR UPDATE', [key(a1, 'ch-1')])
  let answered = false
  const queued = storage.queue('ch-1', 1).finally(() => { answered = true })
  await sleep(200)
  t.ok(answered, 'at once: SKIP LOCKED')
  await other.query("UPDATE alert_deliveries SET claimed_by = 'another node', claimed_until = now() + interval '1 minute' WHERE key = $1", [key(a1, 'ch-1')])
  await other.query('COMMIT')
  t.strictSame(await queued, [], 'neither its head nor what follows')
  t.strictSame(await storage.queue('ch-1', 2), [], 'nor later, while the other holds it')
})

t.test('PostgreSQL, two nodes working one channel at once: each delivery is sent once, in queue order, never two at a time', async t => {
  const { a, b } = await twoNodes(t)
  const log = Array.from({ length: 40 }, (_, n) => alert(`a${String(n).padStart(2, '0')}`, 'down', n))
  for (const each of log) await a.add(each, to(each, 'ch-1'), T0)
  const sent: string[] = []
  const by = { a: 0, b: 0 }
  let sending = false
  let overlaps = 0
  async function worker (storage: OutboxStorage, name: 'a' | 'b') {
    while ((await storage.pendingChannels()).length > 0) {
      // As a worker does: the head alone first, then a batch.
      if ((await storage.queue('ch-1', 1)).length === 0) {
        await sleep(1)
        continue
      }
      for (const delivery of await storage.queue('ch-1', 3)) {
        if (sending) overlaps++
        sending = true
        sent.push(delivery.alert.id)
        by[name]++
        await sleep(Math.random() * 2)
        sending = false
        await storage.record({ key: delivery.key, at: T0, state: 'delivered', nextAttemptAt: null, error: null })
      }
    }
  }
  await Promise.all([worker(a, 'a'), worker(b, 'b')])
  t.strictSame(sent, log.map(each => each.id), 'each once, in order')
  t.equal(overlaps, 0, 'never two at a time')
  t.ok(by.a + by.b === log.length, `node a sent ${by.a}, node b ${by.b}`)
})

t.test('PostgreSQL, two nodes: a failed attempt frees the head; a silent node\'s claim ends; what another node holds is not abandoned', async t => {
  const claimMs = 1000
  const { a, b } = await twoNodes(t, claimMs)
  const [a1, a2] = [alert('a1', 'down', 0), alert('a2', 'down', 1)]
  for (const each of [a1, a2]) await a.add(each, to(each, 'ch-1'), T0)
  t.strictSame(names(await a.queue('ch-1', 2)), ['a1/ch-1', 'a2/ch-1'])
  t.strictSame(await b.abandon('ch-1', null, 'the channel no longer exists'), [], 'b leaves a\'s deliveries alone')
  await a.record({ key: key(a1, 'ch-1'), at: T0, state: 'pending', nextAttemptAt: T0 + MIN, error: 'HTTP 503' })
  t.strictSame(names(await b.queue('ch-1', 1)), ['a1/ch-1'], 'the head waiting for its retry is free')
  t.strictSame(await a.queue('ch-1', 2), [], 'b has it now')
  await sleep(claimMs + 200)
  t.strictSame(names(await a.queue('ch-1', 2)), ['a1/ch-1', 'a2/ch-1'], 'b went silent: a takes the channel')
  t.strictSame(await b.queue('ch-1', 2), [])
  t.strictSame(await a.abandon('ch-1', null, 'the channel no longer exists'), ['down', 'down'], 'its own it abandons')
})

t.test('PostgreSQL, two nodes adding the same alert make one alert, one delivery per channel and one subject', async t => {
  const url = await databaseWith(cluster, OUTBOX_SCHEMA)
  const pool = poolOn(t, url)
  const [a, b] = [createPgOutbox(pool), createPgOutbox(poolOn(t, url))]
  const a1 = alert('a1', 'down', 0)
  await Promise.all([a!.add(a1, to(a1, 'ch-1', 'ch-2'), T0), b!.add(a1, to(a1, 'ch-1'), T0 + 5)])
  t.strictSame((await a!.list(0, T0 + DAY, 10)).map(entry => [entry.id, entry.deliveries.map(d => d.channelId).sort()]), [['a1', ['ch-1', 'ch-2']]])
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM alert_subjects')
  t.equal(rows[0].n, 1)
  await a!.close()
  t.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1, 'close leaves the pool open')
})
