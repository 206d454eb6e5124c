import Database from 'better-sqlite3'
import type pg from 'pg'
import { transaction } from './pg-transaction.ts'

/**
 * What copying a single node's history database into the cluster database takes
 * (`npm run migrate -- --to <url>`, SPEC §12); each plugin copies its own tables with it.
 */

/** Rows per statement: a page of alerts is at most a few MiB of bodies. */
const PAGE = 500

export interface SqliteSource {
  /** Whether the file has the table (a node that never sent an alert has no outbox tables). */
  has (table: string): boolean
  /** `SELECT <columns> FROM <table>` in `rowid` order, a page at a time (keyset pages: no statement stays open across the awaits). */
  pages<T> (table: string, columns: string): Generator<T[]>
  all<T> (sql: string, ...parameters: unknown[]): T[]
}

/**
 * Runs `copy` with the SQLite file opened read-only and one PostgreSQL transaction: the copy is
 * all or nothing, so a failed one is simply run again.
 */
export async function copySqliteToPg<T> (sqliteFile: string, pool: pg.Pool, copy: (source: SqliteSource, client: pg.PoolClient) => Promise<T>): Promise<T> {
  const db = new Database(sqliteFile, { readonly: true, fileMustExist: true })
  const source: SqliteSource = {
    has: table => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined,
    * pages<T> (table: string, columns: string) {
      const page = db.prepare(`SELECT rowid AS rowid, ${columns} FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ${PAGE}`)
      for (let after = 0; ;) {
        const rows = page.all(after) as Array<T & { rowid: number }>
        if (rows.length === 0) return
        yield rows
        after = rows.at(-1)!.rowid
      }
    },
    all: <T>(sql: string, ...parameters: unknown[]) => db.prepare(sql).all(...parameters) as T[]
  }
  try {
    return await transaction(pool, client => copy(source, client))
  } finally {
    db.close()
  }
}

/** Rows as one array per column, for `unnest($1::type[], …)`: a page is one statement whatever its size. */
export const columnsOf = <T>(rows: T[], names: Array<keyof T>) => names.map(name => rows.map(row => row[name]))
