import { closeDatabase, openDatabase } from '../../lib/sqlite.ts'
import type { AuditRow, AuditStorage } from './storage.ts'
import { toEntry, type StoredRow } from './rows.ts'

// A table of its own in the history database, beside the history's and the outbox's.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  address TEXT,
  action TEXT NOT NULL,
  kind TEXT NOT NULL,
  item_id TEXT,
  name TEXT,
  via TEXT,
  created INTEGER,
  updated INTEGER,
  deleted INTEGER
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
`

/** The audit in the history database file, over its own connection. */
export function createSqliteAudit (file: string): AuditStorage {
  const db = openDatabase(file, SCHEMA)

  const insert = db.prepare(`INSERT INTO audit_log (at, actor, address, action, kind, item_id, name, via, created, updated, deleted)
    VALUES (@at, @actor, @address, @action, @kind, @id, @name, @via, @created, @updated, @deleted)`)
  const add = db.transaction((rows: AuditRow[]) => {
    for (const { counts, via, ...row } of rows) {
      insert.run({ ...row, via: via ?? null, created: counts?.created ?? null, updated: counts?.updated ?? null, deleted: counts?.deleted ?? null })
    }
  })
  const listQuery = db.prepare(`SELECT at, actor, address, action, kind, item_id AS id, name, via, created, updated, deleted
    FROM audit_log WHERE at >= ? AND at <= ? ORDER BY at DESC, seq DESC LIMIT ?`)
  const pruneQuery = db.prepare('DELETE FROM audit_log WHERE at < ?')

  return {
    async add (rows) { add(rows) },
    async list (from, to, limit) { return (listQuery.all(from, to, limit) as StoredRow[]).map(toEntry) },
    async prune (before) { return pruneQuery.run(before).changes },
    async close () { closeDatabase(db) }
  }
}
