import type pg from 'pg'

/**
 * Runs `work` in one transaction on a connection of `pool`: committed when it resolves,
 * rolled back when it throws. A connection whose rollback fails is broken and is dropped
 * from the pool instead of being handed to the next caller. `begin` may ask for an
 * isolation level (`BEGIN ISOLATION LEVEL REPEATABLE READ`).
 */
export async function transaction<T> (pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await client.query(begin)
    const result = await work(client)
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => { broken = rollbackError })
    throw err
  } finally {
    client.release(broken)
  }
}
