import type { Database } from './database.ts'
import { appendRows } from './event-log.ts'
import { transaction } from '../pg-transaction.ts'
import { withDelta, type DeltaOp } from '../store/delta.ts'

/**
 * The configuration in PostgreSQL (SPEC §12): the latest snapshot plus the changes after it,
 * each change one `config` row of the event log holding its delta (lib/store/delta.ts), in
 * the same transaction as its events. Writes are a compare-and-set on `config_head.version`
 * (optimistic concurrency): a node whose copy is behind learns it (`null`), catches up and
 * applies its mutation again.
 */

/** A snapshot is written every this many versions, so a starting node replays at most as many changes. */
export const SNAPSHOT_EVERY = 100

export interface ConfigChange { version: number, ops: DeltaOp[] }

export interface LoadedConfig {
  /** The stored document (as written; checked by the store), or null before the first write. */
  document: unknown
  version: number
}

/** The configuration as of now: the latest snapshot (or `empty`, before the first) with the changes after it applied. */
export async function loadConfig (database: Database, empty: object): Promise<LoadedConfig> {
  // One view of both tables: no change can fall between the snapshot and the rows after it.
  const { snapshot, rows } = await transaction(database.pool, async client => {
    const { rows: [snapshot] } = await client.query<{ version: string, event_id: string, document: string }>(
      'SELECT version, event_id, document FROM config_snapshots ORDER BY version DESC LIMIT 1')
    const { rows } = await client.query<{ version: string, payload: string }>(
      "SELECT version, payload FROM event_log WHERE kind = 'config' AND id > $1 ORDER BY id", [snapshot?.event_id ?? 0])
    return { snapshot, rows }
  }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
  let document: object | null = snapshot === undefined ? null : JSON.parse(snapshot.document)
  let version = snapshot === undefined ? 0 : Number(snapshot.version)
  for (const row of rows) {
    // The first changes of a new cluster apply to the document of a new install.
    document = withDelta(document ?? empty, JSON.parse(row.payload) as DeltaOp[])
    version = Number(row.version)
  }
  return { document, version }
}

/** The changes after `version`, in order (a write that found itself behind catches up with them). */
export async function changesSince (database: Database, version: number): Promise<ConfigChange[]> {
  const { rows } = await database.pool.query<{ version: string, payload: string }>(
    "SELECT version, payload FROM event_log WHERE kind = 'config' AND version > $1 ORDER BY id", [version])
  return rows.map(row => ({ version: Number(row.version), ops: JSON.parse(row.payload) as DeltaOp[] }))
}

export interface ConfigWrite {
  /** The version the change was made on. */
  base: number
  ops: readonly DeltaOp[]
  /** The SPEC §5 events of the change, as JSON. */
  events: readonly string[]
  /** Their statuses go with them. */
  removedServerIds: readonly string[]
}

/** Commits one change with its events; null when the configuration moved past `base` meanwhile. */
export async function writeChange (database: Database, write: ConfigWrite): Promise<{ version: number, configRowId: number, lastEventId: number } | null> {
  return database.transaction(async client => {
    // The row lock serializes writers; one that waited sees the new version and matches nothing.
    const { rowCount } = await client.query('UPDATE config_head SET version = version + 1 WHERE id = 1 AND version = $1', [write.base])
    if (rowCount === 0) return null
    const version = write.base + 1
    const ids = await appendRows(client, [
      { kind: 'config', version, payload: JSON.stringify(write.ops) },
      ...write.events.map(payload => ({ kind: 'event' as const, version: null, payload }))
    ])
    if (write.removedServerIds.length > 0) await client.query('DELETE FROM server_statuses WHERE server_id = ANY($1)', [write.removedServerIds])
    return { version, configRowId: ids[0]!, lastEventId: ids.at(-1)! }
  })
}

/** Stores the whole document at `version` (written at the log row `eventId`). */
export async function writeSnapshot (database: Database, version: number, eventId: number, document: object): Promise<void> {
  await database.pool.query(
    'INSERT INTO config_snapshots (version, event_id, document) VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING',
    [version, eventId, JSON.stringify(document)])
  // Two are kept: a node loading while the newest is written still finds its rows after the older.
  await database.pool.query('DELETE FROM config_snapshots WHERE version < (SELECT min(version) FROM (SELECT version FROM config_snapshots ORDER BY version DESC LIMIT 2) AS kept)')
}
