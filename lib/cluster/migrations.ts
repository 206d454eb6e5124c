import type pg from 'pg'
import { transaction } from '../pg-transaction.ts'
import { CORE_SCHEMA } from './schema.ts'
import { HISTORY_SCHEMA } from '../../plugins/history/pg-storage.ts'
import { OUTBOX_SCHEMA } from '../../plugins/alerts/pg-outbox.ts'
import { AUDIT_SCHEMA } from '../../plugins/audit/pg-storage.ts'

export interface Migration { version: number, name: string, sql: string }

/**
 * The cluster database's schema, forward only: a version once released is never edited,
 * a change is a new version at the end. (The SQL of versions 2–4 lives beside its storage;
 * it is part of a released migration like this list: change it by adding a version.)
 */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'configuration, event log, statuses, leader lease', sql: CORE_SCHEMA },
  { version: 2, name: 'history', sql: HISTORY_SCHEMA },
  { version: 3, name: 'alert outbox', sql: OUTBOX_SCHEMA },
  { version: 4, name: 'audit', sql: AUDIT_SCHEMA }
]

/** Serializes the migrations of nodes starting together (pg_advisory_xact_lock key: 'emig'). */
const MIGRATION_LOCK = 0x656d6967

/**
 * Brings the schema up to the last version: the missing migrations in one transaction (DDL
 * is transactional in PostgreSQL: all or nothing), under a lock, so nodes starting together
 * do not race. Returns the versions applied. A
 * database ahead of this code (a newer node migrated it) is refused: this node does not
 * know its tables.
 */
export async function migrate (pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return transaction(pool, async client => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())')
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations')
    const done = new Set(rows.map(row => row.version))
    const newest = Math.max(0, ...done)
    const known = Math.max(0, ...migrations.map(migration => migration.version))
    if (newest > known) throw new Error(`the database schema is at version ${newest}, newer than this node knows (${known}): upgrade this node`)
    const applied: number[] = []
    for (const migration of migrations) {
      if (done.has(migration.version)) continue
      await client.query(migration.sql)
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name])
      applied.push(migration.version)
    }
    return applied
  })
}
