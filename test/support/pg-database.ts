import { randomUUID } from 'node:crypto'
import pg from 'pg'
import type { Test } from './app.ts'
import type { PostgresCluster } from './postgres.ts'

/** A new database on `cluster` with `schema` (a module's migration) applied; returns its URL. */
export async function databaseWith (cluster: PostgresCluster, schema: string): Promise<string> {
  const url = await cluster.createDatabase(`test_${randomUUID().replaceAll('-', '')}`)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(schema)
  } finally {
    await client.end()
  }
  return url
}

/** A pool on `url` (one node's), ended with the test. */
export function poolOn (t: Test, url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url })
  t.teardown(() => pool.end())
  return pool
}
