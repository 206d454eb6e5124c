import type pg from 'pg'
import type { ServerStatus } from '../../schemas/status.ts'
import type { Database } from './database.ts'
import { holdsLease, type Fence } from './fencing.ts'

/**
 * Each server's status as the leader last published it (SPEC §12): a starting node shows
 * these until events move them on, and a new leader continues from them — a server down
 * stays down, with its time of change, and no flip is invented.
 */
export async function loadStatuses (database: Database): Promise<Map<string, ServerStatus>> {
  const { rows } = await database.pool.query<{ server_id: string, status: string }>('SELECT server_id, status FROM server_statuses')
  return new Map(rows.map(row => [row.server_id, JSON.parse(row.status) as ServerStatus]))
}

/** Upserts statuses in the caller's transaction (the last one of a server wins). */
export async function upsertStatuses (client: pg.PoolClient, statuses: readonly ServerStatus[]): Promise<void> {
  const latest = new Map(statuses.map(status => [status.id, JSON.stringify(status)]))
  if (latest.size === 0) return
  await client.query(
    `INSERT INTO server_statuses (server_id, status, updated_at)
     SELECT id, status, now() FROM unnest($1::text[], $2::text[]) AS saved (id, status)
     ON CONFLICT (server_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at`,
    [[...latest.keys()], [...latest.values()]])
}

/** Saves what the leader of `fence` knows; returns false (and saves nothing) when it no longer leads. */
export async function saveStatuses (database: Database, statuses: readonly ServerStatus[], fence: Fence): Promise<boolean> {
  if (statuses.length === 0) return true
  return database.transaction(async client => {
    if (!await holdsLease(client, fence)) return false
    await upsertStatuses(client, statuses)
    return true
  })
}
