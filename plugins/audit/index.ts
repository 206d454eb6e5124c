import fp from 'fastify-plugin'
import type { ConfigStore } from '../../lib/config-store.ts'
import { HOURLY, LOG_RETENTION_MS, schedulePruning } from '../../lib/pruning.ts'
import type { AuditEntry } from '../../schemas/audit.ts'
import { describe, entriesOf } from './entries.ts'
import { createSqliteAudit } from './sqlite-storage.ts'
import { createPgAudit } from './pg-storage.ts'
import { clusterOf } from '../cluster.ts'

export interface AuditPluginOptions {
  /** The history database: the audit keeps its table there (with history off too). */
  file: string
  /** Time source of the entries and of pruning; tests drive it. */
  clock?: () => number
  /** How often entries older than the retention are deleted (default hourly). */
  pruneIntervalMs?: number
}

/** Reached in the scope as `getDecorator<AuditLog>('auditLog')`. */
export interface AuditLog {
  /** Entries whose `at` is in [from, to] (epoch ms), newest first, at most `limit`. */
  list (query: { from: number, to: number, limit: number }): Promise<AuditEntry[]>
}

/**
 * SPEC §11's audit: every change the store reports (API, host API, import, hand edit) is
 * logged at `info`, one line per entry, and kept in the history database for 400 days. The
 * store reports a change before its call resolves, and the rows are inserted right then (one
 * small transaction, committed to the WAL): a change that was answered is in the audit, even
 * if the process is killed the next moment. A failed insert is logged and never fails the
 * change, which is already written. Decorates `auditLog`.
 */
export default fp<AuditPluginOptions>(async function auditPlugin (fastify, options) {
  const store = fastify.getDecorator<ConfigStore>('configStore')
  const log = fastify.log.child({ plugin: 'audit' })
  const clock = options.clock ?? Date.now
  const cluster = clusterOf(fastify)
  const storage = cluster === null ? createSqliteAudit(options.file) : createPgAudit(cluster.database.pool)

  const unsubscribe = store.onAudit(record => {
    const at = clock()
    const entries = entriesOf(record)
    for (const entry of entries) log.info(entry, describe(entry))
    // The SQLite storage inserts synchronously, before the promise settles (PostgreSQL: each node its own changes).
    storage.add(entries.map(entry => ({ at, ...entry }))).catch(err => log.error({ err, entries: entries.length }, 'could not store audit entries'))
  })
  const pruning = schedulePruning(() => storage.prune(clock() - LOG_RETENTION_MS), options.pruneIntervalMs ?? HOURLY, log)

  const auditLog: AuditLog = {
    list: ({ from, to, limit }) => storage.list(from, to, limit)
  }
  fastify.decorate('auditLog', auditLog)

  fastify.addHook('onClose', async () => {
    unsubscribe()
    await pruning.stop()
    await storage.close()
  })
}, {
  name: 'estatus-audit',
  fastify: '5.x',
  dependencies: ['estatus-config-store']
})
