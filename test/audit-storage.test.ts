// The audit's storage (AuditStorage): one table of cases run against SQLite and PostgreSQL alike.
import t from 'tap'
import type { AuditRow, AuditStorage } from '../plugins/audit/storage.ts'
import { createSqliteAudit } from '../plugins/audit/sqlite-storage.ts'
import { AUDIT_SCHEMA, createPgAudit } from '../plugins/audit/pg-storage.ts'
import { runConformance, storageBackends, type ConformanceCase } from './support/conformance.ts'
import { startPostgres } from './support/postgres.ts'
import { databaseWith, poolOn } from './support/pg-database.ts'

const T0 = Date.UTC(2026, 0, 1)
const iso = (ms: number) => new Date(ms).toISOString()

const created = (n: number, at = T0 + n * 1000): AuditRow =>
  ({ at, actor: 'ops', address: '10.0.0.7', action: 'create', kind: 'server', id: `server-${n}`, name: `web-${n}` })
// An import at T0 + 10 s: its items (via) and its summary (counts), written in that order.
const imported: AuditRow[] = [
  { at: T0 + 10_000, actor: 'cli', address: null, action: 'update', kind: 'channel', id: 'channel-1', name: 'hook', via: 'import' },
  { at: T0 + 10_000, actor: 'cli', address: null, action: 'delete', kind: 'rule', id: 'rule-1', name: 'Down', via: 'import' },
  { at: T0 + 10_000, actor: 'cli', address: null, action: 'import', kind: 'configuration', id: null, name: null, counts: { created: 0, updated: 1, deleted: 1 } }
]
const entry = (row: AuditRow) => ({ ...row, at: iso(row.at) })

const cluster = await startPostgres()
t.teardown(() => cluster.stop())

const backends = storageBackends(cluster, AUDIT_SCHEMA, createSqliteAudit, pool => createPgAudit(pool))

type Case = ConformanceCase<AuditStorage>

const cases: Case[] = [{
  name: 'list: entries in [from, to], newest first and of one change the last written first, at most limit',
  async run (storage) {
    await storage.add([created(1)])
    await storage.add([created(2)])
    await storage.add(imported)
    await storage.add([])
    return {
      all: await storage.list(T0, T0 + 60_000, 10),
      limited: await storage.list(T0, T0 + 60_000, 2),
      inside: await storage.list(T0 + 1500, T0 + 2000, 10),
      none: await storage.list(T0 + 20_000, T0 + 60_000, 10)
    }
  },
  expected: {
    all: [...imported].reverse().concat([created(2), created(1)]).map(entry),
    limited: [imported[2]!, imported[1]!].map(entry),
    inside: [entry(created(2))],
    none: []
  }
}, {
  name: 'prune: the entries older than a time, counted',
  async run (storage) {
    await storage.add([created(1), created(2), created(3)])
    return { pruned: await storage.prune(T0 + 3000), left: (await storage.list(0, T0 + 60_000, 10)).map(e => e.id), again: await storage.prune(T0 + 3000) }
  },
  expected: { pruned: 2, left: ['server-3'], again: 0 }
}]

runConformance(t, backends, cases)

t.test('PostgreSQL: close leaves the pool open', async t => {
  const pool = poolOn(t, await databaseWith(cluster, AUDIT_SCHEMA))
  const storage = createPgAudit(pool)
  await storage.add([created(1)])
  await storage.close()
  t.equal((await pool.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n, 1)
})
