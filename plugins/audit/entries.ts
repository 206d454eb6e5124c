import type { AuditRecord } from '../../lib/config-store.ts'
import type { AuditEntry } from '../../schemas/audit.ts'

/** What the audit says of a change, pure: shared by the plugin and the offline import script. */

export type Entry = Omit<AuditEntry, 'at'>

const PAST: Record<AuditEntry['action'], string> = { create: 'created', update: 'updated', delete: 'deleted', import: 'imported', replace: 'replaced' }

/**
 * One record's entries: one per item, and for an import or replace a summary after them
 * (with the counts), so the newest-first list shows the summary above its items.
 */
export function entriesOf ({ action, origin, items }: AuditRecord): Entry[] {
  const who = { actor: origin.actor, address: origin.address }
  if (action !== 'import' && action !== 'replace') return items.map(item => ({ ...who, ...item }))
  const count = (change: string) => items.filter(item => item.action === change).length
  return [
    ...items.map(item => ({ ...who, ...item, via: action })),
    { ...who, action, kind: 'configuration' as const, id: null, name: null, counts: { created: count('create'), updated: count('update'), deleted: count('delete') } }
  ]
}

/** The log line's message: `ops updated server "web-1" (server-001) from 10.0.0.7`. */
export function describe (entry: Entry): string {
  const what = entry.counts === undefined
    ? `${entry.kind} ${JSON.stringify(entry.name)} (${entry.id})${entry.via === undefined ? '' : ` by ${entry.via}`}`
    : `the configuration: ${entry.counts.created} created, ${entry.counts.updated} updated, ${entry.counts.deleted} deleted`
  return `${entry.actor} ${PAST[entry.action]} ${what}${entry.address === null ? '' : ` from ${entry.address}`}`
}
