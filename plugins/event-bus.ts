import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { EstatusEvent } from '../schemas/events.ts'
import type { ServerStatus } from '../schemas/status.ts'
import { upsertStatuses } from '../lib/cluster/statuses.ts'
import { createListeners } from '../lib/listeners.ts'
import { appendRows, readEvents, resumable } from '../lib/cluster/event-log.ts'
import { holdsLease, type Fence } from '../lib/cluster/fencing.ts'
import { clusterOf, type Cluster } from './cluster.ts'

/** An event as subscribers get it: with its id (the SSE id) and its JSON text, serialized once. */
export type EventListener = (event: EstatusEvent, id: number, json: string) => void

/** A published event as the log keeps it. */
export interface LoggedEvent { id: number, json: string }

/**
 * Typed publish/subscribe for the state changes of SPEC §5: fire-and-forget publish,
 * subscribe with an unsubscribe function. In process by default; in cluster mode (§12) the
 * event log in PostgreSQL, so every node's subscribers get every node's events, in one order.
 */
export interface EventBus {
  /**
   * `status`: the server's status the event changed; in cluster mode it is saved with the
   * event, in the same transaction, so a node starting later never sees one without the other.
   */
  publish (event: EstatusEvent, status?: ServerStatus): void
  subscribe (listener: EventListener): () => void
  /** The id of the last event handed to subscribers. */
  readonly lastId: number
  /** Events after `after` up to `through`, read back from the log: null where there is no log (in process). */
  logged (after: number, through: number): Promise<LoggedEvent[] | null>
  /** Resolves once every published event is with the subscribers' source (in cluster mode: written to the log, or dropped). */
  flush (): Promise<void>
  /**
   * Resolves once the events committed until now have been handed to the subscribers (in
   * cluster mode: read from the log, the configuration changes before them applied), so a
   * snapshot taken then agrees with `lastId`.
   */
  caughtUp (): Promise<void>
}

interface Delivery { event: EstatusEvent, id: number, json: string }

function subscribers (log: FastifyBaseLogger) {
  const listeners = createListeners<Delivery>(log, ({ event }) => [{ type: event.type }, 'an event subscriber failed'])
  return {
    emit: listeners.emit,
    subscribe: (listener: EventListener) => listeners.add(({ event, id, json }) => listener(event, id, json)),
    clear: listeners.clear
  }
}

/** The in-process bus. Ids continue across restarts (they start at the start time in µs), so a Last-Event-ID from an earlier run is never taken for one of this run. */
export function createEventBus (log: FastifyBaseLogger): EventBus {
  const listeners = subscribers(log)
  let lastId = Date.now() * 1000
  return {
    publish (event) { listeners.emit({ event, id: ++lastId, json: JSON.stringify(event) }) },
    subscribe: listeners.subscribe,
    get lastId () { return lastId },
    logged: async () => null,
    flush: async () => {},
    caughtUp: async () => {}
  }
}

/** Events waiting for the database beyond this are dropped, oldest first (a leader cut off for long). */
const MAX_UNWRITTEN = 100_000
const RETRY_MS = 1_000
/** A resume that would need more than this many events from the log gets a snapshot instead. */
const MAX_RESUME_EVENTS = 50_000

/**
 * The cluster's bus: `publish` appends to the event log (the events of one tick in one
 * transaction; kept and retried while the database is away), and subscribers get what the
 * node's tail reads back — this node's events like every other's, with their global ids.
 * Only the leader publishes (its probes' events): each write is fenced with the term the
 * events were made in, so a leader cut off from the database never adds its old news after
 * another node has led.
 */
function createClusterBus (cluster: Cluster, log: FastifyBaseLogger) {
  const listeners = subscribers(log)
  const { database } = cluster
  let lastId = cluster.tail.position
  let unwritten: Array<{ fence: Fence, payload: string, status: ServerStatus | undefined }> = []
  let writing: Promise<void> | null = null
  let retry: NodeJS.Timeout | null = null

  /** Writes the unwritten events of the oldest term (all of them, as a rule) in one transaction. */
  async function writeBatch () {
    const { fence } = unwritten[0]!
    const batch = unwritten.filter(entry => entry.fence.term === fence.term)
    const written = await database.transaction(async client => {
      if (!await holdsLease(client, fence)) return false
      await appendRows(client, batch.map(({ payload }) => ({ kind: 'event', version: null, payload })))
      // As they are now (a status moves on after its event: the newest is the one to start from).
      await upsertStatuses(client, batch.flatMap(({ status }) => status === undefined ? [] : [status]))
      return true
    })
    unwritten = unwritten.filter(entry => !batch.includes(entry))
    if (!written) log.warn({ term: fence.term, events: batch.length }, 'dropping events of an old leadership: another node has led since')
  }

  function write () {
    if (writing !== null || unwritten.length === 0) return
    writing = writeBatch()
      .then(() => { writing = null; if (unwritten.length > 0) setImmediate(write) }, err => {
        writing = null
        if (unwritten.length > MAX_UNWRITTEN) {
          const excess = unwritten.length - MAX_UNWRITTEN
          unwritten = unwritten.slice(excess)
          log.error({ dropped: excess }, 'the database has been away too long: dropping the oldest unwritten events')
        }
        log.warn({ err, events: unwritten.length }, 'could not write events to the log; retrying')
        retry ??= setTimeout(() => { retry = null; write() }, RETRY_MS)
      })
  }
  const unsubscribeReconnect = database.onReconnect(write)

  cluster.consume('event', rows => {
    for (const row of rows) {
      // A page read again after a failure part-way: what was handed over already is not again.
      if (row.id <= lastId) continue
      lastId = row.id
      listeners.emit({ event: JSON.parse(row.payload) as EstatusEvent, id: row.id, json: row.payload })
    }
  })

  const bus: EventBus = {
    publish (event, status) {
      const fence = cluster.fence()
      if (fence === null) {
        log.warn({ type: event.type }, 'an event published while this node does not lead is not written')
        return
      }
      unwritten.push({ fence, payload: JSON.stringify(event), status })
      if (unwritten.length === 1) setImmediate(write)
    },
    subscribe: listeners.subscribe,
    get lastId () { return lastId },
    async logged (after, through) {
      if (through - after > MAX_RESUME_EVENTS || !await resumable(database.pool, after)) return null
      const rows = await readEvents(database.pool, after, through)
      return rows.map(row => ({ id: row.id, json: row.payload }))
    },
    caughtUp: () => cluster.tail.catchUp(),
    // Before the lease is handed over.
    async flush () {
      if (retry !== null) { clearTimeout(retry); retry = null }

      while (unwritten.length > 0 && database.reachable) {
        write()
        await writing?.catch(() => {})
      }
      if (unwritten.length > 0) log.warn({ events: unwritten.length }, 'the database is away: events not written to the log are lost')
    }
  }
  return {
    bus,
    close () {
      unsubscribeReconnect()
      if (retry !== null) clearTimeout(retry)
    }
  }
}

export default fp(async function eventBusPlugin (fastify) {
  const log = fastify.log.child({ plugin: 'event-bus' })
  const cluster = clusterOf(fastify)
  if (cluster === null) {
    fastify.decorate('eventBus', createEventBus(log))
    return
  }
  const { bus, close } = createClusterBus(cluster, log)
  fastify.decorate('eventBus', bus)
  fastify.addHook('onClose', async () => {
    await bus.flush()
    close()
  })
}, { name: 'estatus-event-bus', fastify: '5.x' })
