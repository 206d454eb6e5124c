import Database from 'better-sqlite3'
import type pg from 'pg'
import { STEP_MS, type Step } from './storage.ts'
import { DISK_TABLES, TALLY_TABLES, ensureServers } from './pg-storage.ts'
import { transaction } from '../../lib/pg-transaction.ts'

/** A table of the SQLite history, the columns to read (server first) and their PostgreSQL table and types. */
interface TableCopy {
  from: string
  select: string
  to: string
  columns: string
  types: string[]
}

// SQLite keeps periods (minutes, hours or days since the epoch); PostgreSQL their start in ms.
const tallyCopy = (from: string, step: Step): TableCopy => ({
  from,
  select: `server, t * ${STEP_MS[step]}, probes, replies, rtt_min, rtt_sum, rtt_max, online_ms, monitored_ms`,
  to: TALLY_TABLES[step],
  columns: 'server, t, probes, replies, rtt_min, rtt_sum, rtt_max, online_ms, monitored_ms',
  types: ['int4', 'int8', 'int4', 'int4', 'int4', 'int8', 'int4', 'int4', 'int4']
})
const diskCopy = (from: string, step: '1h' | '1d'): TableCopy => ({
  from,
  select: `server, disk, t * ${STEP_MS[step]}, used_max, total`,
  to: DISK_TABLES[step],
  columns: 'server, disk, t, used_max, total',
  types: ['int4', 'text', 'int8', 'int8', 'int8']
})
const COPIES: TableCopy[] = [
  tallyCopy('minutes', '1m'),
  tallyCopy('hours', '1h'),
  tallyCopy('days', '1d'),
  // SQLite's 0 and 1 are valid input of a PostgreSQL boolean.
  { from: 'transitions', select: 'server, at, online', to: 'history_transitions', columns: 'server, at, online', types: ['int4', 'int8', 'bool'] },
  { from: 'disks', select: 'server, disk, source, name, disk_index', to: 'history_disks', columns: 'server, disk, source, name, disk_index', types: ['int4', 'text', 'text', 'text', 'int4'] },
  diskCopy('disk_hours', '1h'),
  diskCopy('disk_days', '1d')
]

/** Rows per INSERT: one array per column (unnest), so the statement stays small whatever the count. */
const BATCH_ROWS = 10_000

/** Inserts rows (given as columns) that are not there yet; returns how many were. */
async function insertColumns (client: pg.PoolClient, copy: TableCopy, columns: unknown[][]): Promise<number> {
  const arrays = copy.types.map((type, i) => `$${i + 1}::${type}[]`).join(', ')
  const result = await client.query(`INSERT INTO ${copy.to} (${copy.columns}) SELECT * FROM unnest(${arrays}) ON CONFLICT DO NOTHING`, columns)
  return result.rowCount ?? 0
}

/** Copies one table in batches, each row under its server's PostgreSQL key (rows of no known server are skipped, as SQLite never shows them). */
async function copyTable (db: Database.Database, client: pg.PoolClient, copy: TableCopy, keys: Map<number, number>): Promise<number> {
  let copied = 0
  let columns: unknown[][] = copy.types.map(() => [])
  const rows = db.prepare(`SELECT ${copy.select} FROM ${copy.from}`).raw().iterate() as IterableIterator<unknown[]>
  for (const [server, ...rest] of rows) {
    const key = keys.get(server as number)
    if (key === undefined) continue
    columns[0]!.push(key)
    rest.forEach((value, i) => columns[i + 1]!.push(value))
    if (columns[0]!.length === BATCH_ROWS) {
      copied += await insertColumns(client, copy, columns)
      columns = copy.types.map(() => [])
    }
  }
  if (columns[0]!.length > 0) copied += await insertColumns(client, copy, columns)
  return copied
}

/**
 * Copies a node's SQLite history (`npm run migrate -- --to <url>`, SPEC §12) into the tables
 * of HISTORY_SCHEMA, in one transaction: a failed copy leaves nothing behind. Servers are
 * matched by id; rows already there are kept, so running it again copies nothing twice.
 * Only the history tables are read (the outbox and audit in the same file are not), with
 * the file opened read-only. Returns the rows copied per PostgreSQL table.
 */
export async function copyHistoryToPostgres (sqliteFile: string, pool: pg.Pool): Promise<{ tables: Record<string, number> }> {
  const db = new Database(sqliteFile, { readonly: true, fileMustExist: true })
  try {
    const present = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[])
    if (!present.has('servers')) return { tables: {} }
    const servers = db.prepare('SELECT key, id FROM servers').all() as Array<{ key: number, id: string }>
    return await transaction(pool, async client => {
      const ids = servers.map(server => server.id)
      const tables: Record<string, number> = { history_servers: (await ensureServers(client, ids)).rowCount ?? 0 }
      const { rows } = await client.query<{ key: number, id: string }>('SELECT key, id FROM history_servers WHERE id = ANY($1)', [ids])
      const pgKeys = new Map(rows.map(row => [row.id, row.key]))
      const keys = new Map(servers.map(server => [server.key, pgKeys.get(server.id)!]))
      for (const copy of COPIES) {
        if (present.has(copy.from)) tables[copy.to] = await copyTable(db, client, copy, keys)
      }
      return { tables }
    })
  } finally {
    db.close()
  }
}
