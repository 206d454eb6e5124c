// `npm run migrate`'s copy of a node's alert log and audit from its history database (SQLite)
// into the cluster database: the PostgreSQL storages then answer as the SQLite ones did.
import t from 'tap'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Alert } from '../schemas/alerts.ts'
import type { AuditRow } from '../plugins/audit/storage.ts'
import type { OutboxStorage } from '../plugins/alerts/outbox-storage.ts'
import { createSqliteOutbox } from '../plugins/alerts/sqlite-outbox.ts'
import { OUTBOX_SCHEMA, createPgOutbox } from '../plugins/alerts/pg-outbox.ts'
import { copyAlertsToPostgres } from '../plugins/alerts/copy-to-pg.ts'
import { deliveryKey } from '../plugins/alerts/outbox.ts'
import { createSqliteAudit } from '../plugins/audit/sqlite-storage.ts'
import { AUDIT_SCHEMA, createPgAudit } from '../plugins/audit/pg-storage.ts'
import { copyAuditToPostgres } from '../plugins/audit/copy-to-pg.ts'
import { tempDir } from './support/app.ts'
import { startPostgres } from './support/postgres.ts'
import { databaseWith, poolOn } from './support/pg-database.ts'

const T0 = Date.UTC(2026, 0, 1)
const MIN = 60_000
const FAR = T0 + 1000 * 86_400_000
/** More than two of the copy's pages (500 rows). */
const MANY = 1100

const server = (n: number) => ({ id: `server-${n}`, name: `web-${n}`, ip: `10.0.${n >> 8}.${n & 255}` })
function alert (id: string, kind: Alert['kind'], minute: number, more: Partial<Alert> = {}): Alert {
  const at = new Date(T0 + minute * MIN).toISOString()
  return { id, kind, rule: { id: 'rule-1', name: 'Servers down' }, server: server(1), groups: [], at, since: at, message: `${kind} ${id}`, ...more }
}
const to = (a: Alert, ...channelIds: string[]) => channelIds.map(channelId => ({ channelId, key: deliveryKey(a.id, channelId) }))
const sha = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex')

/** Everything an outbox tells: its log, open alerts, pending channels, each queue, and whether the ups' downs failed. */
async function answers (storage: OutboxStorage) {
  const pendingChannels = (await storage.pendingChannels()).sort()
  const queues = await Promise.all(pendingChannels.map(channelId => storage.queue(channelId, 100)))
  const ups = queues.flat().filter(delivery => delivery.alert.kind === 'up')
  return {
    log: await storage.list(0, FAR, 5000),
    open: (await storage.openAlerts()).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)),
    pendingChannels,
    queues,
    downFailed: await Promise.all(ups.map(delivery => storage.downFailed(delivery)))
  }
}

/** A history database with an alert log of every kind and state, and more alerts than a page. */
async function filledOutbox (file: string) {
  const storage = createSqliteOutbox(file)
  const storm = { group: { id: 'group-1', name: 'Rack A' }, servers: [server(3), server(4), server(5)] }
  const test = alert('test', 'test', 0)
  await storage.add(test, [{ ...to(test, 'ch-1')[0]!, attempt: { at: T0, state: 'failed', error: 'HTTP 500' } }], T0)
  const down = alert('down-1', 'down', 1)
  await storage.add(down, to(down, 'ch-1', 'ch-2'), T0 + MIN)
  await storage.record({ key: deliveryKey(down.id, 'ch-1'), at: T0 + MIN, state: 'failed', nextAttemptAt: null, error: 'HTTP 404' })
  const stormDown = alert('storm', 'down', 2, { server: server(3), storm })
  await storage.add(stormDown, to(stormDown, 'ch-1', 'ch-2'), T0 + 2 * MIN)
  await storage.record({ key: deliveryKey(stormDown.id, 'ch-1'), at: T0 + 2 * MIN, state: 'failed', nextAttemptAt: null, error: 'HTTP 410' })
  await storage.record({ key: deliveryKey(stormDown.id, 'ch-2'), at: T0 + 2 * MIN, state: 'pending', nextAttemptAt: T0 + 3 * MIN, error: 'HTTP 503' })
  for (const up of [alert('up-1', 'up', 3), alert('up-4', 'up', 4, { server: server(4) })]) await storage.add(up, to(up, 'ch-1', 'ch-2'), T0 + 4 * MIN)
  await storage.add(alert('disk', 'disk', 5, { disk: { name: '/', percentage: 95, daysToFull: 3.5 } }), [], T0 + 5 * MIN)
  await Promise.all(Array.from({ length: MANY }, (_, n) => {
    const each = alert(`many-${n}`, 'down', 10 + n, { server: server(10 + n) })
    return storage.add(each, [{ ...to(each, 'ch-3')[0]!, attempt: { at: T0, state: 'delivered', error: null } }], T0)
  }))
  const expected = await answers(storage)
  await storage.close()
  return expected
}

const cluster = await startPostgres()
t.teardown(() => cluster.stop())

t.test('alerts: the PostgreSQL outbox answers as the SQLite one did; the file is only read; a copy run again adds nothing', async t => {
  const file = join(await tempDir(t), 'history.sqlite')
  const expected = await filledOutbox(file)
  t.equal(expected.log.length, MANY + 6)
  t.strictSame(expected.pendingChannels, ['ch-1', 'ch-2'])
  t.strictSame(expected.downFailed, [true, true, false, false], 'the ups of ch-1 follow failed downs')
  const before = await sha(file)
  const pool = poolOn(t, await databaseWith(cluster, OUTBOX_SCHEMA))

  t.strictSame(await copyAlertsToPostgres(file, pool), { alert_log: MANY + 6, alert_subjects: 1 + 3 + MANY, alert_deliveries: 1 + 2 + 2 + 4 + MANY })
  // One node: reading the queues claims them.
  const outbox = createPgOutbox(pool)
  t.strictSame(await answers(outbox), expected)
  t.equal(await sha(file), before, 'the SQLite file is unchanged')

  t.strictSame(await copyAlertsToPostgres(file, pool), { alert_log: 0, alert_subjects: 0, alert_deliveries: 0 })
  t.strictSame(await answers(outbox), expected, 'the same answers after the second copy')
})

t.test('alerts: a copy that fails part way leaves nothing behind', async t => {
  const file = join(await tempDir(t), 'history.sqlite')
  await filledOutbox(file)
  const pool = poolOn(t, await databaseWith(cluster, OUTBOX_SCHEMA))
  // The deliveries are copied after the alerts: one of them breaks this rule.
  await pool.query("ALTER TABLE alert_deliveries ADD CONSTRAINT no_ch_2 CHECK (channel_id <> 'ch-2')")
  await t.rejects(copyAlertsToPostgres(file, pool), /no_ch_2/)
  const { rows } = await pool.query('SELECT (SELECT count(*) FROM alert_log)::int AS alerts, (SELECT count(*) FROM alert_subjects)::int AS subjects')
  t.strictSame(rows, [{ alerts: 0, subjects: 0 }])
})

t.test('a history database without these tables copies nothing; a missing file is an error', async t => {
  const dir = await tempDir(t)
  const [auditOnly, outboxOnly] = [join(dir, 'audit.sqlite'), join(dir, 'outbox.sqlite')]
  await createSqliteAudit(auditOnly).close()
  await createSqliteOutbox(outboxOnly).close()
  const pool = poolOn(t, await databaseWith(cluster, OUTBOX_SCHEMA + AUDIT_SCHEMA))
  t.strictSame(await copyAlertsToPostgres(auditOnly, pool), { alert_log: 0, alert_subjects: 0, alert_deliveries: 0 })
  t.strictSame(await copyAuditToPostgres(outboxOnly, pool), { audit_log: 0 })
  await t.rejects(copyAlertsToPostgres(join(dir, 'missing.sqlite'), pool))
  await t.rejects(copyAuditToPostgres(join(dir, 'missing.sqlite'), pool))
})

t.test('audit: the PostgreSQL audit answers as the SQLite one did, in the same order', async t => {
  const file = join(await tempDir(t), 'history.sqlite')
  const sqlite = createSqliteAudit(file)
  const summary: AuditRow = { at: T0, actor: 'cli', address: null, action: 'import', kind: 'configuration', id: null, name: null, counts: { created: MANY, updated: 0, deleted: 0 } }
  const items = Array.from({ length: MANY }, (_, n): AuditRow => ({ at: T0, actor: 'cli', address: null, action: 'create', kind: 'server', id: `server-${n}`, name: `web-${n}`, via: 'import' }))
  await sqlite.add([...items, summary])
  await sqlite.add([{ at: T0 + MIN, actor: 'ops', address: '10.0.0.7', action: 'delete', kind: 'server', id: 'server-1', name: 'web-1' }])
  const expected = await sqlite.list(0, FAR, 5000)
  await sqlite.close()
  t.equal(expected.length, MANY + 2)

  const pool = poolOn(t, await databaseWith(cluster, AUDIT_SCHEMA))
  t.strictSame(await copyAuditToPostgres(file, pool), { audit_log: MANY + 2 })
  t.strictSame(await createPgAudit(pool).list(0, FAR, 5000), expected)
})
