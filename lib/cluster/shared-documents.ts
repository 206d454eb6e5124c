import type { Database } from './database.ts'

const CHANNEL = 'estatus_shared_documents'
/** NOTIFY reaches only the nodes listening at the time: each also reads the document this often. */
const POLL_MS = 5_000

/**
 * A small JSON document every node of a cluster shares (the API tokens): kept whole in a row
 * (the last write wins: tokens change rarely and by hand), and a write wakes the other nodes,
 * which read it again — as they do after a reconnect and every few seconds, so a revoked
 * token stops working everywhere within seconds even when a wake-up was missed.
 */
export function sharedDocument<T> (database: Database, name: string) {
  return {
    async readText (): Promise<string | null> {
      const { rows } = await database.pool.query<{ text: string }>('SELECT text FROM shared_documents WHERE name = $1', [name])
      return rows[0]?.text ?? null
    },
    async write (document: T): Promise<void> {
      await database.transaction(async client => {
        await client.query(
          `INSERT INTO shared_documents (name, text) VALUES ($1, $2)
           ON CONFLICT (name) DO UPDATE SET text = excluded.text, updated_at = now()`, [name, JSON.stringify(document, null, 2) + '\n'])
        await client.query(`NOTIFY ${CHANNEL}`)
      })
    },
    watch (changed: () => void) {
      const unsubscribe = [database.onNotify(CHANNEL, changed), database.onReconnect(changed)]
      const timer = setInterval(changed, POLL_MS)
      timer.unref()
      return () => {
        clearInterval(timer)
        for (const stop of unsubscribe) stop()
      }
    }
  }
}
