import pg from 'pg'
import type { FastifyBaseLogger } from 'fastify'
import { createListeners } from '../listeners.ts'
import { transaction } from '../pg-transaction.ts'

/** Back-off of the reconnect attempts while the database is unreachable. */
const RECONNECT_MIN_MS = 250
const RECONNECT_MAX_MS = 5_000

export interface Database {
  readonly pool: pg.Pool
  /** False from a connection failure until a reconnect succeeds: writes are refused meanwhile (503). */
  readonly reachable: boolean
  /** Why the database is unreachable, or null. */
  readonly problem: string | null
  /** Runs `work` in one transaction on one pooled connection. */
  transaction<T> (work: (client: pg.PoolClient) => Promise<T>): Promise<T>
  /** Subscribes to `LISTEN channel` wake-ups (on the dedicated connection); returns the unsubscribe function. */
  onNotify (channel: string, listener: () => void): () => void
  /** Called each time the database is reachable again after a failure (and once the listener is connected). */
  onReconnect (listener: () => void): () => void
  /** A query failed: if it was the connection, the database is marked unreachable and reconnecting starts. */
  failed (err: unknown): void
  close (): Promise<void>
}

/** Errors that say the connection, not the statement, failed (the database is gone or going). */
export function isConnectionError (err: unknown): boolean {
  const e = err as { code?: string, message?: string }
  if (typeof e.code === 'string') {
    // Class 08 (connection exception), 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now).
    if (e.code.startsWith('08') || /^57P0[123]$/.test(e.code)) return true
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH'].includes(e.code)) return true
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(e.message ?? '')
}

/**
 * The cluster's PostgreSQL (SPEC §12): a pool for queries, plus one dedicated connection for
 * `LISTEN` (a pooled one would lose its subscriptions when returned). Reachability is tracked
 * from query failures and from that connection; while the database is away a reconnect is
 * tried with back-off, and `onReconnect` listeners catch up once it is back.
 */
export async function openDatabase (url: string, log: FastifyBaseLogger): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    // Nodes × (this + the LISTEN connection) must stay under max_connections (100 by default): about 8 nodes.
    max: 10,
    connectionTimeoutMillis: 3_000,
    // A statement stuck behind a network stall must not hold a request forever.
    query_timeout: 15_000,
    keepAlive: true,
    application_name: 'fastify-estatus'
  })
  // An idle pooled connection that dies (the server restarted) emits here: without a
  // listener it would crash the process.
  pool.on('error', err => { database.failed(err) })

  const notifyListeners = new Map<string, ReturnType<typeof createListeners<void>>>()
  const reconnectListeners = createListeners<void>(log, () => [{}, 'a database reconnect listener failed'])
  let listener: pg.Client | null = null
  let connecting = false
  let verifying = false
  let problem: string | null = null
  let closed = false
  let retryTimer: NodeJS.Timeout | null = null
  let backoff = RECONNECT_MIN_MS

  function markUnreachable (err: unknown) {
    if (closed) return
    if (problem === null) log.error({ err }, 'lost the database: serving the last known state read-only, reconnecting')
    problem = `the database is unreachable (${(err as Error).message ?? String(err)})`
  }

  function scheduleRecovery () {
    if (retryTimer !== null || closed) return
    retryTimer = setTimeout(() => {
      retryTimer = null
      void recover()
    }, backoff)
    backoff = Math.min(RECONNECT_MAX_MS, backoff * 2)
  }

  /** Asks the database on a connection of its own; the error, or null when it answered. */
  async function probe (): Promise<unknown> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.query('SELECT 1')
      return null
    } catch (err) {
      return err
    } finally {
      await client.end().catch(() => {})
    }
  }

  /**
   * A query failed on its connection: that alone does not say the database is gone (one
   * backend was killed, the pool was busy), so a connection of its own asks it.
   */
  async function verify () {
    if (verifying || closed || problem !== null) return
    verifying = true
    const err = await probe()
    verifying = false
    if (err === null) return
    markUnreachable(err)
    scheduleRecovery()
  }

  function recovered () {
    if (problem !== null) log.info('the database is reachable again')
    problem = null
    backoff = RECONNECT_MIN_MS
    reconnectListeners.emit()
  }

  async function recover () {
    if (listener === null) return connectListener()
    // The notification connection stayed up: the database is back once a connection of its own answers.
    const err = await probe()
    if (err === null) recovered()
    else scheduleRecovery()
  }

  /**
   * (Re)connects the LISTEN connection. Success means the database is reachable, and the
   * listeners of `onReconnect` look at what they may have missed meanwhile (NOTIFY reaches
   * only the connected).
   */
  async function connectListener () {
    if (closed || connecting || listener !== null) return
    connecting = true
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000, keepAlive: true, application_name: 'fastify-estatus-listen' })
    client.on('error', err => {
      client.end().catch(() => {})
      if (listener !== client) return
      listener = null
      log.warn({ err }, 'the database notification connection broke; reconnecting')
      scheduleRecovery()
      void verify()
    })
    client.on('notification', message => notifyListeners.get(message.channel)?.emit())
    try {
      await client.connect()
      for (const channel of notifyListeners.keys()) await client.query(`LISTEN ${channel}`)
    } catch (err) {
      await client.end().catch(() => {})
      markUnreachable(err)
      scheduleRecovery()
      return
    } finally {
      connecting = false
    }
    if (closed) { await client.end().catch(() => {}); return }
    listener = client
    recovered()
  }

  const database: Database = {
    pool,
    get reachable () { return problem === null },
    get problem () { return problem },
    async transaction (work) {
      try {
        return await transaction(pool, work)
      } catch (err) {
        database.failed(err)
        throw err
      }
    },
    onNotify (channel, notified) {
      let listeners = notifyListeners.get(channel)
      if (listeners === undefined) {
        listeners = createListeners<void>(log, () => [{ channel }, 'a database notification listener failed'])
        notifyListeners.set(channel, listeners)
        listener?.query(`LISTEN ${channel}`).catch(err => database.failed(err))
      }
      return listeners.add(notified)
    },
    onReconnect: listener => reconnectListeners.add(listener),
    failed (err) {
      if (isConnectionError(err)) void verify()
    },
    async close () {
      closed = true
      if (retryTimer !== null) clearTimeout(retryTimer)
      await listener?.end().catch(() => {})
      await pool.end()
    }
  }

  // The first connection: a database that cannot be reached at start stops the start.
  try {
    const first = await pool.connect()
    first.release()
    await connectListener()
    if (problem !== null) throw new Error(problem)
  } catch (err) {
    await database.close()
    throw new Error(`cannot connect to ESTATUS_DATABASE_URL: ${(err as Error).message}`)
  }
  return database
}
