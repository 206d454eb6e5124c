import fp from 'fastify-plugin'
import type { AuditRecord, ConfigStore } from '../../lib/config-store.ts'
import type { AuditEntry } from '../../schemas/audit.ts'
import { createSqliteAudit } from './sqlite-storage.ts'
import type { AuditRow } from './storage.ts'

export interface AuditPluginOptions {
  /** The history database: the audit keeps its table there (with history off too). */
  file: string
  /** Time source of the entries and of pruning; tests drive it. */
  clock?: () => number
  /** How often entries older than the retention are deleted (default hourly). */
  pruneIntervalMs?: number
}

/** SPEC §11: entries are kept 400 days. */
export const AUDIT_RETENTION_MS = 400 * 86_400_000

/** Reached in the scope as `getDecorator<AuditLog>('auditLog')`. */
export interface AuditLog {
  /** Entries whose `at` is in [from, to] (epoch ms), newest first, at most `limit`. */
  list (query: { from: number, to: number, limit: number }): Promise<AuditEntry[]>
}

type Entry = Omit<AuditEntry, 'at'>

const PAST: Record<AuditEntry['action'], string> = { create: 'created', update: 'updated', delete: 'deleted', import: 'imported', replace: 'replaced' }

/**
 * One record's entries: one per item, and for an import or replace a summary after them
 * (with the counts), so the newest-first list shows the summary above its items.
 */
function entriesOf ({ action, origin, items }: AuditRecord): Entry[] {
  const who = { actor: origin.actor, address: origin.address }
  if (action !== 'import' && action !== 'replace') return items.map(item => ({ ...who, ...item }))
  const count = (change: string) => items.filter(item => item.action === change).length
  return [
    ...items.map(item => ({ ...who, ...item, via: action })),
    { ...who, action, kind: 'configuration' as const, id: null, name: null, counts: { created: count('create'), updated: count('update'), deleted: count('delete') } }
  ]
}

/** The log line's message: `ops updated server "web-1" (server-001) from 10.0.0.7`. */
function describe (entry: Entry): string {
  const what = entry.counts === undefined
    ? `${entry.kind} ${JSON.stringify(entry.name)} (${entry.id})${entry.via === undefined ? '' : ` by ${entry.via}`}`
    : `the configuration: ${entry.counts.created} created, ${entry.counts.updated} updated, ${entry.counts.deleted} deleted`
  return `${entry.actor} ${PAST[entry.action]} ${what}${entry.address === null ? '' : ` from ${entry.address}`}`
}

/**
 * SPEC §11's audit: every change the store reports (API, host API, import, hand edit) is
 * logged at `info`, one line per entry, and kept in the history database for 400 days.
 * Rows are written after the change's answer has left (one transaction per turn of the
 * event loop), so the audit never delays nor fails a change. Decorates `auditLog`.
 */
export default fp<AuditPluginOptions>(async function auditPlugin (fastify, options) {
  const store = fastify.getDecorator<ConfigStore>('configStore')
  const log = fastify.log.child({ plugin: 'audit' })
  const clock = options.clock ?? Date.now
  const storage = createSqliteAudit(options.file)

  let pending: AuditRow[] = []
  let scheduled: NodeJS.Immediate | null = null
  let writing: Promise<void> = Promise.resolve()
  /** Resolves once every entry reported so far is committed (or its failure logged). */
  function flush (): Promise<void> {
    if (scheduled !== null) clearImmediate(scheduled)
    scheduled = null
    if (pending.length === 0) return writing
    const rows = pending
    pending = []
    writing = writing
      .then(() => storage.add(rows))
      .catch(err => log.error({ err, entries: rows.length }, 'could not store audit entries'))
    return writing
  }

  const unsubscribe = store.onAudit(record => {
    const at = clock()
    for (const entry of entriesOf(record)) {
      log.info(entry, describe(entry))
      pending.push({ at, ...entry })
    }
    scheduled ??= setImmediate(() => { void flush() })
  })

  const prune = () => {
    writing = writing
      .then(() => storage.prune(clock() - AUDIT_RETENTION_MS))
      .then(pruned => { if (pruned > 0) log.debug({ pruned }, 'pruned old audit entries') })
      .catch(err => log.error({ err }, 'could not prune the audit'))
  }
  prune()
  const pruneTimer = setInterval(prune, options.pruneIntervalMs ?? 3_600_000)
  pruneTimer.unref()

  const auditLog: AuditLog = {
    async list ({ from, to, limit }) {
      await flush()
      return storage.list(from, to, limit)
    }
  }
  fastify.decorate('auditLog', auditLog)

  fastify.addHook('onClose', async () => {
    clearInterval(pruneTimer)
    unsubscribe()
    await flush()
    await storage.close()
  })
}, {
  name: 'estatus-audit',
  fastify: '5.x',
  dependencies: ['estatus-config-store']
})
