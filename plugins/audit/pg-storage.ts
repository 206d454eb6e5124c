import type pg from 'pg'
import type { AuditRow, AuditStorage } from './storage.ts'
import { toEntry, type StoredRow } from './rows.ts'

/** The audit's table in the cluster database (SPEC §12), as sqlite-storage.ts has it; run once as a migration. */
export const AUDIT_SCHEMA = `
CREATE TABLE audit_log (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at bigint NOT NULL,
  actor text NOT NULL,
  address text,
  action text NOT NULL,
  kind text NOT NULL,
  item_id text,
  name text,
  via text,
  created integer,
  updated integer,
  deleted integer
);
CREATE INDEX audit_log_at ON audit_log (at);
`

// One statement for the rows of a change, column by column as arrays: `seq` follows their order.
const INSERT = `INSERT INTO audit_log (at, actor, address, action, kind, item_id, name, via, created, updated, deleted)
  SELECT at, actor, address, action, kind, item_id, name, via, created, updated, deleted
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::int[], $11::int[])
    WITH ORDINALITY AS entry (at, actor, address, action, kind, item_id, name, via, created, updated, deleted, n)
  ORDER BY n`
const LIST = `SELECT at::float8 AS at, actor, address, action, kind, item_id AS id, name, via, created, updated, deleted
  FROM audit_log WHERE at >= $1 AND at <= $2 ORDER BY at DESC, seq DESC LIMIT $3`

/** The rows in one statement (in one transaction, or a copy's). */
export async function insertAudit (db: pg.Pool | pg.PoolClient, rows: AuditRow[]): Promise<void> {
  if (rows.length === 0) return
  await db.query(INSERT, [
    rows.map(row => row.at), rows.map(row => row.actor), rows.map(row => row.address), rows.map(row => row.action),
    rows.map(row => row.kind), rows.map(row => row.id), rows.map(row => row.name), rows.map(row => row.via ?? null),
    rows.map(row => row.counts?.created ?? null), rows.map(row => row.counts?.updated ?? null), rows.map(row => row.counts?.deleted ?? null)
  ])
}

/** The audit in PostgreSQL, over the node's pool (which it leaves open). */
export function createPgAudit (pool: pg.Pool): AuditStorage {
  return {
    add: rows => insertAudit(pool, rows),
    async list (from, to, limit) {
      return (await pool.query<StoredRow>(LIST, [from, to, limit])).rows.map(toEntry)
    },
    async prune (before) {
      return (await pool.query('DELETE FROM audit_log WHERE at < $1', [before])).rowCount ?? 0
    },
    async close () {}
  }
}
