import fp from 'fastify-plugin'
import fastifySseModule, { type fastifySSE } from '@fastify/sse'
import type { ServerResponse } from 'node:http'
import type { InitialMessage } from '../schemas/events.ts'
import type { ConfigStore } from '../lib/config-store.ts'
import type { EventBus } from './event-bus.ts'
import type { Monitor } from './monitor/index.ts'

export interface SseOptions {
  heartbeatMs: number
  /** How many published events are kept for Last-Event-ID resume. */
  replayEvents: number
  /** A client whose unsent data exceeds this is disconnected (it resumes by Last-Event-ID). */
  maxBufferedBytes?: number
}

/** What the hub tells about its streams (the host reads it as `estatus.events.clientCount`). */
export interface EventStreams {
  /** Open event streams. */
  readonly clientCount: number
  /** Clients disconnected because they did not keep up (estatus_sse_dropped_total). */
  readonly droppedCount: number
}

// At run time the default import is the CommonJS module.exports: the fastify-plugin
// wrapped plugin, whose onRoute hook must reach our route. (Its named and `default`
// exports are the bare function, which would be encapsulated away from it.)
const fastifySse = fastifySseModule as unknown as typeof fastifySSE

const SLOW_CLIENT_GRACE_MS = 1000

const CONNECTED = `data: ${JSON.stringify({ type: 'connected', message: 'Connected to server status stream' })}\n\n`

interface Frame { id: number, text: string }

/**
 * `GET /api/events` (SPEC §5). One bus subscription feeds every stream: each event is
 * serialized once into a frame and written to every socket; frames are kept in a ring
 * for resume. One timer sends the JSON heartbeat to all streams.
 */
export default fp<SseOptions>(async function ssePlugin (fastify, options) {
  const maxBuffered = options.maxBufferedBytes ?? 1048576
  const log = fastify.log.child({ plugin: 'sse' })
  const clients = new Set<ServerResponse>()

  const replay: Frame[] = []

  // When each client went over the bound: a burst bigger than the bound (an import) is
  // fine for a client that drains it; one that stays over for a grace period, or falls
  // four bounds behind, cannot keep up.
  const overSince = new Map<ServerResponse, number>()

  let dropped = 0
  function drop (client: ServerResponse) {
    dropped++
    log.warn({ buffered: client.writableLength }, 'disconnecting an event stream client that does not keep up')
    client.destroy()
    clients.delete(client)
    overSince.delete(client)
    connectBacklog.delete(client)
  }

  // What a client got on connecting (the initial snapshot: 19 MB with 50,000 servers) is
  // not held against it: until it has drained that, only what came after counts.
  const connectBacklog = new Map<ServerResponse, number>()

  function write (client: ServerResponse, text: string) {
    const buffered = client.writableLength - (connectBacklog.get(client) ?? 0)
    if (buffered <= maxBuffered) {
      overSince.delete(client)
    } else {
      const since = overSince.get(client)
      if (buffered > 4 * maxBuffered || (since !== undefined && Date.now() - since > SLOW_CLIENT_GRACE_MS)) return drop(client)
      if (since === undefined) overSince.set(client, Date.now())
    }
    client.write(text)
  }

  function broadcast (text: string) {
    for (const client of clients) write(client, text)
  }

  const store = fastify.getDecorator<ConfigStore>('configStore')
  const monitor = fastify.getDecorator<Monitor>('monitor')
  const bus = fastify.getDecorator<EventBus>('eventBus')
  // Ids are the bus's: global across the nodes of a cluster (SPEC §12), so a client resumes on any node.
  const unsubscribe = bus.subscribe((_event, id, json) => {
    const frame = { id, text: `id: ${id}\ndata: ${json}\n\n` }
    if (options.replayEvents > 0) {
      replay.push(frame)
      if (replay.length > options.replayEvents) replay.shift()
    }
    broadcast(frame.text)
  })

  /** The frames after `since` up to the last event, from the ring; null when they are not all in it. */
  function missedFromRing (since: number): Frame[] | null {
    if (since === bus.lastId) return []
    const oldest = replay[0]
    if (oldest === undefined || since < oldest.id - 1 || since > bus.lastId) return null
    const start = replay.findIndex(frame => frame.id > since)
    return start === -1 ? [] : replay.slice(start)
  }

  /** The id a client resumes after: its Last-Event-ID, when it is one of ours. */
  function resumeId (header: string | undefined): number | null {
    if (header === undefined || !/^\d+$/.test(header)) return null
    const since = Number(header)
    return since > bus.lastId ? null : since
  }

  /**
   * In cluster mode, what the ring no longer holds is read from the event log, then topped up
   * from the ring with what arrived meanwhile; null when that fails (the client gets a snapshot).
   */
  async function missedFromLog (since: number): Promise<Frame[] | null> {
    const through = bus.lastId
    const logged = await bus.logged(since, through).catch(err => {
      log.warn({ err }, 'could not read the event log for a resume; sending a snapshot')
      return null
    })
    const after = missedFromRing(through)
    if (logged === null || after === null) return null
    return [...logged.map(row => ({ id: row.id, text: `id: ${row.id}\ndata: ${row.json}\n\n` })), ...after]
  }

  function initial (): string {
    const message: InitialMessage = { type: 'initial', servers: monitor.statuses(), groups: store.groups() }
    // The snapshot carries the id of the last event it reflects, so a browser's own
    // reconnect resumes from there instead of needing another snapshot.
    return `id: ${bus.lastId}\ndata: ${JSON.stringify(message)}\n\n`
  }

  const heartbeat = setInterval(() => {
    if (clients.size > 0) broadcast(`data: ${JSON.stringify({ type: 'heartbeat', timestamp: new Date().toISOString() })}\n\n`)
  }, options.heartbeatMs)
  heartbeat.unref()

  await fastify.register(fastifySse, { heartbeatInterval: 0 })

  fastify.get('/api/events', { sse: { kind: 'only', heartbeat: false } }, async (request, reply) => {
    reply.sse.keepAlive()
    reply.sse.sendHeaders()
    const client = reply.raw
    // The client may have left while hooks ran (a host's async onRequest, e.g. auth): its
    // 'close' has fired already, so it must not join the set (it would never leave it).
    if (client.destroyed) return
    const since = resumeId(request.headers['last-event-id'] as string | undefined)
    let missed = since === null ? null : missedFromRing(since)
    if (since !== null && missed === null) missed = await missedFromLog(since)
    // A cluster node may hold a configuration change whose events it has not read back yet: the
    // snapshot waits for them, or the client would get `serverAdded` for a server it has.
    if (missed === null) await bus.caughtUp()
    if (client.destroyed) return
    // Everything from the snapshot (or the ring's last frames) to joining the broadcast set
    // happens in this one tick, so no event can fall between them.
    client.write(CONNECTED)
    if (missed === null) client.write(initial())
    else for (const frame of missed) client.write(frame.text)
    if (client.writableLength > 0) {
      connectBacklog.set(client, client.writableLength)
      client.once('drain', () => connectBacklog.delete(client))
    }
    clients.add(client)
    const leave = () => {
      clients.delete(client)
      overSince.delete(client)
      connectBacklog.delete(client)
    }
    client.once('close', leave)
    client.once('error', leave)
  })

  const streams: EventStreams = { get clientCount () { return clients.size }, get droppedCount () { return dropped } }
  fastify.decorate('eventStreams', streams)

  // Before the HTTP server closes: end every stream, so shutdown does not wait on them.
  fastify.addHook('preClose', async () => {
    clearInterval(heartbeat)
    unsubscribe()
    for (const client of clients) client.end()
    clients.clear()
    overSince.clear()
  })
}, {
  name: 'estatus-sse',
  fastify: '5.x',
  dependencies: ['estatus-config-store', 'estatus-event-bus', 'estatus-monitor']
})
