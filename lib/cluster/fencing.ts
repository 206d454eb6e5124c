import type pg from 'pg'

/** What a leader's writes carry: who it is and the term it leads in (lease.ts). */
export interface Fence { holder: string, term: number }

/**
 * Whether `fence` still holds the lease: run in the writing transaction before the write. The
 * row is share-locked, so no other node can take the lease until the write has committed;
 * and a leader cut off from the database that comes back after another node has led (the
 * term moved on) finds nothing: what it kept meanwhile is stale and is dropped.
 */
export async function holdsLease (client: pg.PoolClient, fence: Fence): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM leader_lease WHERE id = 1 AND holder = $1 AND term = $2 FOR SHARE', [fence.holder, fence.term])
  return rowCount === 1
}
