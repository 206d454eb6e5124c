import type pg from 'pg'
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from './database.ts'
import { transaction } from '../pg-transaction.ts'

/**
 * The event log (SPEC §12): one table, one global order. Every insert takes one
 * transaction-scoped advisory lock before its ids are drawn, so transactions insert one at
 * a time and become visible in id order: a reader that has seen id N has seen every id
 * below it, and tailing by `id > last` never skips a row that commits late.
 */
const EVENT_LOG_LOCK = 0x65766e74 // 'evnt'
export const EVENTS_CHANNEL = 'estatus_events'
/** Rows read per query while catching up. */
const PAGE = 1000
/** A tail also looks every so often without a wake-up: NOTIFY is a hint, the table is the truth. */
const SAFETY_POLL_MS = 5_000

export interface LogRow { id: number, kind: 'config' | 'event', version: number | null, payload: string }
export type NewLogRow = Omit<LogRow, 'id'>

/** Appends rows in the caller's transaction, in order; returns their ids. */
export async function appendRows (client: pg.PoolClient, rows: readonly NewLogRow[]): Promise<number[]> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [EVENT_LOG_LOCK])
  const { rows: inserted } = await client.query<{ id: string }>(
    `INSERT INTO event_log (kind, version, payload)
     SELECT kind, version, payload FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS row (kind, version, payload, n)
     ORDER BY n
     RETURNING id`,
    [rows.map(row => row.kind), rows.map(row => row.version), rows.map(row => row.payload)]
  )
  // Delivered at commit, to the nodes listening then: a wake-up only, the rows are read back.
  await client.query(`NOTIFY ${EVENTS_CHANNEL}`)
  return inserted.map(row => Number(row.id))
}

/** The id of the newest row (0 when there is none). */
export async function lastLogId (client: pg.Pool | pg.PoolClient): Promise<number> {
  const { rows } = await client.query<{ id: string | null }>('SELECT max(id) AS id FROM event_log')
  return Number(rows[0]?.id ?? 0)
}

const toRow = (row: { id: string, kind: 'config' | 'event', version: string | null, payload: string }): LogRow =>
  ({ id: Number(row.id), kind: row.kind, version: row.version === null ? null : Number(row.version), payload: row.payload })

/** The events (not the configuration changes) after `after` up to `through`, in order: a resume from the log. */
export async function readEvents (pool: pg.Pool, after: number, through: number): Promise<LogRow[]> {
  const { rows } = await pool.query("SELECT id, kind, version, payload FROM event_log WHERE id > $1 AND id <= $2 AND kind = 'event' ORDER BY id", [after, through])
  return rows.map(toRow)
}

export interface LogTail {
  /** The id of the last row handed over. */
  readonly position: number
  /** Follows the log from now on (its consumers are in place): on NOTIFY, on reconnect, and every few seconds. */
  start (): void
  /** Reads and hands over everything committed now; resolves once handled. */
  catchUp (): Promise<void>
  /** Resolves once the row `id` has been handed over. */
  reached (id: number): Promise<void>
  close (): Promise<void>
}

/**
 * Follows the log from `from`: once started, woken by NOTIFY (and on reconnect, and every few seconds),
 * it reads the new rows page by page and hands them to `handle` in order, one read at a time.
 * A failed read waits for the database to come back; nothing is skipped.
 */
export function createLogTail (options: { database: Database, log: FastifyBaseLogger, from: number, handle (rows: LogRow[]): Promise<void> | void }): LogTail {
  const { database, log } = options
  let position = options.from
  let reading: Promise<void> | null = null
  let again = false
  let closed = false
  const waiters: Array<{ id: number, resolve (): void }> = []

  async function readAll () {
    do {
      again = false
      for (;;) {
        const { rows } = await database.pool.query(
          'SELECT id, kind, version, payload FROM event_log WHERE id > $1 ORDER BY id LIMIT $2', [position, PAGE])
        if (rows.length === 0 || closed) break
        const page = rows.map(toRow)
        await options.handle(page)
        position = page.at(-1)!.id
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i]!.id <= position) { waiters[i]!.resolve(); waiters.splice(i, 1) }
        }
        if (page.length < PAGE) break
      }
      // eslint-disable-next-line no-unmodified-loop-condition -- close() sets it while this awaits
    } while (again && !closed)
  }

  function catchUp (): Promise<void> {
    if (closed) return Promise.resolve()
    if (reading !== null) {
      // A read is in flight: it may have missed what woke us, so it goes round once more.
      again = true
      return reading
    }
    reading = readAll()
      .catch(err => {
        database.failed(err)
        log.warn({ err }, 'could not read the event log; retrying once the database is back')
      })
      .finally(() => { reading = null })
    return reading
  }

  let unsubscribeNotify = () => {}
  let unsubscribeReconnect = () => {}
  let timer: NodeJS.Timeout | undefined

  return {
    get position () { return position },
    start () {
      unsubscribeNotify = database.onNotify(EVENTS_CHANNEL, () => { void catchUp() })
      unsubscribeReconnect = database.onReconnect(() => { void catchUp() })
      timer = setInterval(() => { void catchUp() }, SAFETY_POLL_MS)
      timer.unref()
      void catchUp()
    },
    catchUp,
    reached (id) {
      if (id <= position) return Promise.resolve()
      return new Promise(resolve => {
        waiters.push({ id, resolve })
        void catchUp()
      })
    },
    async close () {
      closed = true
      clearInterval(timer)
      unsubscribeNotify()
      unsubscribeReconnect()
      await reading
      for (const waiter of waiters) waiter.resolve()
      waiters.length = 0
    }
  }
}

/** Events are kept this long for resumes; older rows go, but never a configuration change the newest snapshot lacks. */
export const EVENT_RETENTION_MS = 86_400_000

/**
 * Deletes what the log no longer needs (see EVENT_RETENTION_MS); returns how many rows. The
 * newest event deleted is remembered, so a resume from before it gets a snapshot instead of
 * a silent gap (firstResumable).
 */
export async function pruneLog (pool: pg.Pool, retentionMs = EVENT_RETENTION_MS): Promise<number> {
  return transaction(pool, async client => {
    const { rows: [newest] } = await client.query<{ through: string | null }>(
      "SELECT max(id) AS through FROM event_log WHERE kind = 'event' AND at < now() - $1 * interval '1 millisecond'", [retentionMs])
    if (newest?.through == null) return 0
    const { rowCount } = await client.query(
      `DELETE FROM event_log
        WHERE id <= $1 AND (kind = 'event' OR id <= (SELECT coalesce(max(event_id), 0) FROM config_snapshots))`, [newest.through])
    await client.query('UPDATE event_log_pruned SET through = greatest(through, $1) WHERE id = 1', [newest.through])
    return rowCount ?? 0
  })
}

/** A resume after `after` can be served from the log: no event after it has been pruned. */
export async function resumable (pool: pg.Pool, after: number): Promise<boolean> {
  const { rows } = await pool.query<{ through: string }>('SELECT through FROM event_log_pruned WHERE id = 1')
  return after >= Number(rows[0]?.through ?? 0)
}
