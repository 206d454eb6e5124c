import type { AuditEntry } from '../../schemas/audit.ts'

/** An audit row as the queries answer it, the same from SQLite and PostgreSQL (the time in epoch ms). */
export interface StoredRow {
  at: number
  actor: string
  address: string | null
  action: AuditEntry['action']
  kind: AuditEntry['kind']
  id: string | null
  name: string | null
  via: AuditEntry['via'] | null
  created: number | null
  updated: number | null
  deleted: number | null
}

export function toEntry (row: StoredRow): AuditEntry {
  const { at, via, created, updated, deleted, ...rest } = row
  return {
    at: new Date(at).toISOString(),
    ...rest,
    ...(via === null ? {} : { via }),
    ...(created === null ? {} : { counts: { created, updated: updated ?? 0, deleted: deleted ?? 0 } })
  }
}
