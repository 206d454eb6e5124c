import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { EstatusEvent } from '../schemas/events.ts'
import { createListeners } from '../lib/listeners.ts'
import { appendRows, firstLogId, readRows } from '../lib/cluster/event-log.ts'
import type { Cluster } from './cluster.ts'

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
  publish (event: EstatusEvent): void
  subscribe (listener: EventListener): () => void
  /** The id of the last event handed to subscribers. */
  readonly lastId: number
  /** Events after `after` up to `through`, read back from the log: null where there is no log (in process). */
  logged (after: number, through: number): Promise<LoggedEvent[] | null>
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
    logged: async () => null
  }
}

/** Events waiting for the database beyond this are dropped, oldest first (a leader cut off for long). */
const MAX_UNWRITTEN = 100_000
const RETRY_MS = 1_000

/**
 * The cluster's bus: `publish` appends to the event log (the events of one tick in one
 * transaction; kept and retried while the database is away), and subscribers get what the
 * node's tail reads back — this node's events like every other's, with their global ids.
 */
function createClusterBus (cluster: Cluster, log: FastifyBaseLogger) {
  const listeners = subscribers(log)
  const { database } = cluster
  let lastId = cluster.tail.position
  let unwritten: string[] = []
  let writing = false
  let retry: NodeJS.Timeout | null = null
  let dropped = 0

  function schedule (delayMs?: number) {
    if (writing || unwritten.length === 0) return
    if (delayMs === undefined) { setImmediate(write); return }
    retry ??= setTimeout(() => { retry = null; write() }, delayMs)
  }

  function write () {
    if (writing || unwritten.length === 0) return
    writing = true
    const batch = unwritten
    unwritten = []
    database.transaction(client => appendRows(client, batch.map(payload => ({ kind: 'event', version: null, payload }))))
      .then(() => { writing = false; schedule() }, err => {
        writing = false
        unwritten = batch.concat(unwritten)
        if (unwritten.length > MAX_UNWRITTEN) {
          const excess = unwritten.length - MAX_UNWRITTEN
          dropped += excess
          unwritten = unwritten.slice(excess)
          log.error({ dropped }, 'the database has been away too long: dropping the oldest unwritten events')
        }
        log.warn({ err, events: unwritten.length }, 'could not write events to the log; retrying')
        schedule(RETRY_MS)
      })
  }
  const unsubscribeReconnect = database.onReconnect(() => schedule())

  cluster.consume('event', rows => {
    for (const row of rows) {
      lastId = row.id
      listeners.emit({ event: JSON.parse(row.payload) as EstatusEvent, id: row.id, json: row.payload })
    }
  })

  const bus: EventBus = {
    publish (event) {
      unwritten.push(JSON.stringify(event))
      if (unwritten.length === 1) schedule()
    },
    subscribe: listeners.subscribe,
    get lastId () { return lastId },
    async logged (after, through) {
      // Older than what the log still keeps (it is pruned): not all of it can be served.
      if (after < await firstLogId(database.pool) - 1) return null
      const rows = await readRows(database.pool, after, through, 'event')
      return rows.map(row => ({ id: row.id, json: row.payload }))
    }
  }
  return {
    bus,
    /** Writes what is still unwritten (at close: the last statuses of a leader that hands over). */
    async close () {
      unsubscribeReconnect()
      if (retry !== null) clearTimeout(retry)
      // eslint-disable-next-line no-unmodified-loop-condition -- write() clears it while this waits
      while (writing) await new Promise(resolve => setTimeout(resolve, 10))
      if (unwritten.length === 0 || !database.reachable) return
      await database.transaction(client => appendRows(client, unwritten.map(payload => ({ kind: 'event', version: null, payload }))))
        .catch(err => log.warn({ err, events: unwritten.length }, 'could not write the last events to the log'))
    }
  }
}

export default fp(async function eventBusPlugin (fastify) {
  const log = fastify.log.child({ plugin: 'event-bus' })
  if (!fastify.hasDecorator('cluster')) {
    fastify.decorate('eventBus', createEventBus(log))
    return
  }
  const { bus, close } = createClusterBus(fastify.getDecorator<Cluster>('cluster'), log)
  fastify.decorate('eventBus', bus)
  fastify.addHook('onClose', close)
}, { name: 'estatus-event-bus', fastify: '5.x' })
