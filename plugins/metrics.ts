import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { ConfigStore } from '../lib/config-store.ts'
import type { EventBus } from './event-bus.ts'
import type { Leadership } from './leadership.ts'
import type { Monitor, MonitorResult } from './monitor/index.ts'
import type { EventStreams } from './sse.ts'
import type { AlertOutbox } from './alerts/types.ts'
import type { ServerStatus } from '../schemas/status.ts'
import type { GroupConfig } from '../schemas/config.ts'

/* eslint-disable no-new -- a prom-client metric registers itself in `registers`; its collect() does the work */

const MIB = 1048576

/**
 * The process metrics (CPU, memory, event loop, GC) describe the process, not an app, and
 * prom-client's collectors for them can never be stopped; so one registry per process,
 * made on first use, serves every app in it.
 */
let processRegistry: Registry | undefined
function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/** Servers handled between two yields to the event loop while a scrape collects. */
const CHUNK = 250

/** Calls `fn` for every item, giving the event loop a turn every CHUNK items. */
async function inChunks<T> (items: readonly T[], fn: (item: T) => void) {
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % CHUNK === 0) await new Promise(resolve => setImmediate(resolve))
    fn(items[i]!)
  }
}

const diskLabel = (disk: NonNullable<ServerStatus['diskInfo']>[number]) => disk.name ?? disk.description ?? String(disk.index ?? '')

/** The per-server series, filled from the statuses of the scrape when it collects them. */
function registerServerGauges (registers: Registry[], current: () => ServerStatus[], groups: () => GroupConfig[]) {
  const serverLabels = ['server_id', 'server'] as const
  const diskLabels = ['server_id', 'disk', 'source'] as const
  new Gauge({
    name: 'probe_success',
    help: 'Whether the server is online (1) or offline (0), after the thresholds',
    labelNames: serverLabels,
    registers,
    async collect () {
      this.reset()
      await inChunks(current(), server => this.set({ server_id: server.id, server: server.name }, server.isOnline ? 1 : 0))
    }
  })
  new Gauge({
    name: 'probe_icmp_duration_seconds',
    help: 'Round-trip time of the last ICMP echo reply',
    labelNames: serverLabels,
    registers,
    async collect () {
      this.reset()
      await inChunks(current(), server => {
        if (server.responseTimeMs !== undefined) this.set({ server_id: server.id, server: server.name }, server.responseTimeMs / 1000)
      })
    }
  })
  for (const [name, help, field] of [
    ['estatus_disk_used_bytes', 'Used space of a disk or LUN (read in MiB)', 'used'],
    ['estatus_disk_size_bytes', 'Size of a disk or LUN (read in MiB)', 'total']
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames: diskLabels,
      registers,
      async collect () {
        this.reset()
        await inChunks(current(), server => {
          for (const disk of server.diskInfo ?? []) this.set({ server_id: server.id, disk: diskLabel(disk), source: disk.source }, disk[field] * MIB)
        })
      }
    })
  }
  new Gauge({
    name: 'estatus_server_group_info',
    help: 'Group membership of a server (always 1; join on server_id)',
    labelNames: ['server_id', 'group'],
    registers,
    async collect () {
      this.reset()
      await inChunks(groups().flatMap(group => group.serverIds.map(id => [id, group.name] as const)), ([id, group]) => this.set({ server_id: id, group }, 1))
    }
  })
}

/**
 * `GET /metrics` (SPEC §11) with a registry of its own, so two apps in one process never
 * collide. Per-server series are filled from the monitor's statuses when scraped, not on
 * every probe; probe counts are kept in a plain map and handed over at the scrape too.
 */
export default fp(async function metricsPlugin (fastify) {
  const store = fastify.getDecorator<ConfigStore>('configStore')
  const monitor = fastify.getDecorator<Monitor>('monitor')
  const bus = fastify.getDecorator<EventBus>('eventBus')
  const streams = fastify.getDecorator<EventStreams>('eventStreams')
  const outbox = fastify.getDecorator<AlertOutbox>('alertOutbox')
  const registry = new Registry()
  const registers = [registry]

  // The statuses of the latest scrape: read once, shared by every collect below.
  let snapshot: ServerStatus[] = []

  registerServerGauges(registers, () => snapshot, () => store.groups())

  // ---- probe counts ------------------------------------------------------------------
  const probeCounts = new Map<string, { sent: number, replies: number }>()
  const stopResults = monitor.onResult((result: MonitorResult) => {
    if (result.kind !== 'ping') return
    let counts = probeCounts.get(result.serverId)
    if (counts === undefined) probeCounts.set(result.serverId, counts = { sent: 0, replies: 0 })
    counts.sent++
    if (result.alive) counts.replies++
  })
  const stopChanges = store.onChange(changes => {
    for (const server of changes.serversRemoved) probeCounts.delete(server.id)
  })
  for (const [name, help, field] of [
    ['estatus_probe_sent_total', 'ICMP echo requests sent', 'sent'],
    ['estatus_probe_replies_total', 'ICMP echo replies received', 'replies']
  ] as const) {
    new Counter({
      name,
      help,
      labelNames: ['server_id'],
      registers,
      async collect () {
        this.reset()
        await inChunks([...probeCounts], ([id, counts]) => this.inc({ server_id: id }, counts[field]))
      }
    })
  }
  new Counter({
    name: 'estatus_fping_restarts_total',
    help: 'fping processes restarted after they ended unasked',
    registers,
    collect () {
      this.reset()
      this.inc(monitor.fpingRestarts())
    }
  })

  // ---- events, stream clients, writes -----------------------------------------------------
  new Gauge({ name: 'estatus_sse_clients', help: 'Open event streams', registers, collect () { this.set(streams.clientCount) } })
  // Cluster mode (SPEC §12): which node probes and alerts now; always 1 for a single node.
  const leadership = fastify.getDecorator<Leadership>('leadership')
  new Gauge({ name: 'estatus_leader', help: '1 while this node runs the probes, history recording and alert delivery', registers, collect () { this.set(leadership.leading ? 1 : 0) } })
  new Counter({
    name: 'estatus_sse_dropped_total',
    help: 'Event stream clients disconnected for not keeping up',
    registers,
    collect () {
      this.reset()
      this.inc(streams.droppedCount)
    }
  })
  const events = new Counter({ name: 'estatus_sse_events_total', help: 'Events published to the event streams, by type', labelNames: ['type'], registers })
  const stopEvents = bus.subscribe(event => events.inc({ type: event.type }))
  const writeSeconds = new Histogram({
    name: 'estatus_config_write_seconds',
    help: 'Time to make a configuration change durable (journal append, or the whole data file; fsync included)',
    registers,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
  })
  const stopWrites = store.onWrite(seconds => writeSeconds.observe(seconds))

  // ---- alerts -------------------------------------------------------------------------
  const alerts = new Counter({
    name: 'estatus_alerts_total',
    help: 'Alert delivery attempts by alert kind, channel id and outcome (delivered, retried, failed: given up)',
    labelNames: ['kind', 'channel', 'outcome'],
    registers
  })
  const stopAlerts = outbox.onDelivery(event => alerts.inc({ kind: event.kind, channel: event.channelId, outcome: event.outcome }))

  // ---- HTTP -------------------------------------------------------------------------
  const requestSeconds = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request durations by route pattern',
    registers,
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]
  })
  fastify.addHook('onResponse', async (request, reply) => {
    // The pattern, not the path, keeps the label set bounded; unknown paths share one value.
    const route = request.routeOptions.url ?? 'unmatched'
    requestSeconds.observe({ method: request.method, route, status_code: reply.statusCode }, reply.elapsedTime / 1000)
  })

  // Collecting yields to the event loop between chunks; scrapes that arrive meanwhile share
  // the one in progress instead of resetting its series under it.
  let rendering: Promise<string> | null = null
  async function render (): Promise<string> {
    snapshot = monitor.statuses()
    return await registry.metrics() + '\n' + await processMetrics().metrics()
  }

  fastify.get('/metrics', {
    schema: {
      tags: ['observability'],
      summary: 'Prometheus metrics',
      description: 'Prometheus text format: blackbox-exporter names for probes, one series per server, group membership in estatus_server_group_info.',
      response: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: Type.String({ examples: ['probe_success{server_id="server-001",server="web-1"} 1'] }) } } } }
    }
  }, async (_request, reply) => {
    rendering ??= render().finally(() => { rendering = null })
    return reply.type(registry.contentType).send(await rendering)
  })

  fastify.addHook('onClose', async () => {
    stopResults()
    stopChanges()
    stopEvents()
    stopWrites()
    stopAlerts()
    registry.clear()
  })
}, {
  name: 'estatus-metrics',
  fastify: '5.x',
  dependencies: ['estatus-config-store', 'estatus-event-bus', 'estatus-monitor', 'estatus-sse', 'estatus-alert-outbox']
})
