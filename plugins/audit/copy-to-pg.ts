import type pg from 'pg'
import { copySqliteToPg } from '../../lib/sqlite-to-pg.ts'
import { insertAudit } from './pg-storage.ts'
import { toEntry, type StoredRow } from './rows.ts'

const COLUMNS = 'at, actor, address, action, kind, item_id AS id, name, via, created, updated, deleted'

/**
 * The audit of a node's history database (sqlite-storage.ts's `audit_log`) into the cluster
 * database's (AUDIT_SCHEMA), in one transaction and in its order. Entries have no key of their
 * own: a copy run again adds them again. Resolves with the rows added.
 */
export function copyAuditToPostgres (sqliteFile: string, pool: pg.Pool): Promise<Record<string, number>> {
  return copySqliteToPg(sqliteFile, pool, async (source, client) => {
    const copied = { audit_log: 0 }
    if (!source.has('audit_log')) return copied
    for (const rows of source.pages<StoredRow>('audit_log', COLUMNS)) {
      await insertAudit(client, rows.map(row => ({ ...toEntry(row), at: row.at })))
      copied.audit_log += rows.length
    }
    return copied
  })
}
