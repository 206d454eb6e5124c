import type { FastifyBaseLogger } from 'fastify'
import type { Database } from './database.ts'

export const LEADER_CHANNEL = 'estatus_leader'

export interface LeaseOptions {
  database: Database
  log: FastifyBaseLogger
  /** Who this node is in `leader_lease.holder`. */
  holder: string
  /** SPEC §12: renewed every 2 s, lost after 6 s. */
  renewMs?: number
  ttlMs?: number
  /** This node became the leader (`term` counts the leaderships); may be async. */
  gained (term: number): Promise<void> | void
  /** It is no longer: its leader-only work must stop. */
  lost (): Promise<void> | void
}

export interface Lease {
  readonly leading: boolean
  readonly term: number
  /** Starts trying to take or renew the lease. */
  start (): void
  /** Stops leading (running `lost`, awaited) and hands the lease over at once, so another node need not wait for expiry. */
  close (): Promise<void>
}

/**
 * The leader lease (SPEC §12): a row rather than an advisory lock. A session's advisory lock
 * lives as long as its connection, and a network stall keeps it until TCP notices; a row with
 * an expiry on the database's own clock means exactly "6 s", can be read by anyone (who
 * leads, since when), and hands out a term with every change of leader.
 *
 * The leader renews every 2 s; another node takes the row once `expires_at` has passed. The
 * term changes exactly when the holder does: a leader's writes are fenced with (holder, term)
 * (fencing.ts), so nothing it kept while cut off lands after another node has led.
 * The leader itself stops 1 s before the expiry counted from when its last successful renewal
 * was *sent*, on its own clock, so two nodes never work at once even when the database
 * becomes unreachable.
 */
export function createLease (options: LeaseOptions): Lease {
  const { database, log, holder } = options
  const renewMs = options.renewMs ?? 2_000
  const ttlMs = options.ttlMs ?? 6_000
  const marginMs = Math.min(1_000, ttlMs / 4)
  let leading = false
  let term = 0
  let closed = false
  let started = false
  let timer: NodeJS.Timeout | null = null
  let expiry: NodeJS.Timeout | null = null
  let attempt: Promise<void> | null = null
  // Leadership changes run one after the other: a `lost` never overlaps a `gained`.
  let transitions: Promise<void> = Promise.resolve()

  function transition (change: () => Promise<void> | void) {
    transitions = transitions.then(change).catch(err => log.error({ err }, 'a leadership change failed'))
    return transitions
  }

  function stepDown (why: string) {
    if (!leading) return transitions
    leading = false
    if (expiry !== null) { clearTimeout(expiry); expiry = null }
    log.warn({ term, why }, 'no longer the leader: stopping the probes, history recording and alert delivery')
    return transition(options.lost)
  }

  async function tryLease () {
    const sentAt = performance.now()
    let gotTerm: number | null = null
    try {
      const { rows } = await database.pool.query<{ term: string }>(
        `UPDATE leader_lease
            SET term = CASE WHEN holder = $1 THEN term ELSE term + 1 END,
                holder = $1,
                expires_at = now() + $2 * interval '1 millisecond'
          WHERE id = 1 AND (holder = $1 OR expires_at <= now())
          RETURNING term`, [holder, ttlMs])
      gotTerm = rows[0] === undefined ? null : Number(rows[0].term)
    } catch (err) {
      database.failed(err)
      // Still leading until the local expiry below: a blip of the database is not a failover.
      return
    }
    if (closed) return
    if (gotTerm === null) {
      if (leading) await stepDown('another node holds the lease')
      return
    }
    // Valid until ttl after the request left (the database counted from later), less a margin.
    const remaining = ttlMs - marginMs - (performance.now() - sentAt)
    if (remaining <= 0) return
    // Someone else held it in between: what this node did as leader of the old term ends first.
    if (leading && gotTerm !== term) void stepDown('the lease was held by another node meanwhile')
    if (expiry !== null) clearTimeout(expiry)
    expiry = setTimeout(() => { void stepDown('the lease could not be renewed in time') }, remaining)
    if (leading) return
    leading = true
    term = gotTerm
    log.info({ term, holder }, 'leading: running the probes, history recording and alert delivery')
    // Not awaited: starting the work (database reads) must not hold up the next renewal.
    void transition(() => options.gained(gotTerm))
  }

  function attemptNow () {
    // Not before start(): a wake-up during the app's start would start its work half registered.
    if (!started || closed || attempt !== null) return
    attempt = tryLease().finally(() => { attempt = null })
  }

  const unsubscribe = database.onNotify(LEADER_CHANNEL, attemptNow)
  const unsubscribeReconnect = database.onReconnect(attemptNow)

  return {
    get leading () { return leading },
    get term () { return term },
    start () {
      if (started) return
      started = true
      attemptNow()
      timer = setInterval(attemptNow, renewMs)
      timer.unref()
    },
    async close () {
      closed = true
      unsubscribe()
      unsubscribeReconnect()
      if (timer !== null) clearInterval(timer)
      await attempt
      const wasLeading = leading
      await stepDown('shutting down')
      await transitions
      if (!wasLeading) return
      // Hand over: expire our lease now and wake the others.
      await database.pool.query('UPDATE leader_lease SET expires_at = \'-infinity\' WHERE id = 1 AND holder = $1', [holder])
        .then(() => database.pool.query(`NOTIFY ${LEADER_CHANNEL}`))
        .catch(err => log.warn({ err }, 'could not hand the lease over; another node takes it when it expires'))
    }
  }
}
