import fp from 'fastify-plugin'
import { createHash, randomUUID } from 'node:crypto'
import type { Alert, Channel } from '../../schemas/alerts.ts'
import { createListeners } from '../../lib/listeners.ts'
import type { AlertConfig, AlertOutbox, ConfigChanges, DeliveryEvent } from './types.ts'
import { createSqliteOutbox } from './sqlite-outbox.ts'
import { createPgOutbox } from './pg-outbox.ts'
import { clusterOf } from '../cluster.ts'
import type { Leadership } from '../leadership.ts'
import { createSenders } from './senders/index.ts'
import { attemptTimeoutMs, DEFAULT_TIMEOUTS, type DeliveryTimeouts } from './senders/http.ts'
import { DEFAULT_RETRY, createWorkers, type RetryPolicy } from './workers.ts'
import { HOURLY, LOG_RETENTION_MS, schedulePruning } from '../../lib/pruning.ts'

export interface AlertOutboxOptions {
  /** The history database: the outbox keeps its tables there (with history off too). */
  file: string
  retry?: Partial<RetryPolicy>
  timeouts?: Partial<DeliveryTimeouts>
  /** Time source of pruning the alert log; tests drive it. */
  clock?: () => number
  /** How often finished alerts older than the retention are deleted (default hourly). */
  pruneIntervalMs?: number
}

const CLAIM_MARGIN_MS = 10_000
const REWAKE_MS = 10_000

/**
 * The idempotency key of one channel's delivery of one alert: derived, so the same alert
 * queued twice (or by two nodes, §12) is one delivery, and the same on every attempt.
 */
export const deliveryKey = (alertId: string, channelId: string) =>
  createHash('sha256').update(`${alertId}\n${channelId}`).digest('hex').slice(0, 32)

/** The alert `POST /api/config/channels/:id/test` sends; its server is a documentation address (RFC 5737). */
function testAlert (channel: Channel, now: number): Alert {
  const at = new Date(now).toISOString()
  return {
    id: randomUUID(),
    kind: 'test',
    rule: { id: 'test', name: 'Channel test' },
    server: { id: 'test', name: 'test', ip: '192.0.2.1' },
    groups: [],
    at,
    since: at,
    message: `A test of the channel '${channel.name}': alerts reach you here.`
  }
}

/**
 * SPEC §10's durable outbox: decorates the scope with `alertOutbox` (AlertOutbox). Alerts and
 * their deliveries are committed to the history database before any attempt; one worker per
 * channel delivers them (workers.ts), and a restart resumes what was pending. The log is
 * kept 400 days: older alerts whose deliveries are all finished are deleted at start and hourly.
 */
export default fp<AlertOutboxOptions>(async function alertOutboxPlugin (fastify, options) {
  const config = fastify.getDecorator<AlertConfig & ConfigChanges>('configStore')
  const log = fastify.log.child({ plugin: 'alert-outbox' })
  const leadership = fastify.getDecorator<Leadership>('leadership')
  const cluster = clusterOf(fastify)
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts }
  // A claim outlives the longest attempt (and e-mail's, the same 40 s): only a node gone silent loses it.
  const storage = cluster === null ? createSqliteOutbox(options.file) : createPgOutbox(cluster.database.pool, { claimMs: attemptTimeoutMs(timeouts) + CLAIM_MARGIN_MS })
  const senders = createSenders(timeouts)
  const listeners = createListeners<DeliveryEvent>(log, event => [{ ...event }, 'an alert delivery listener failed'])
  const stopping = new AbortController()
  /** Delivery runs on the leader (SPEC §12); any node may add to the outbox. */
  let workers: ReturnType<typeof createWorkers> | null = null

  const outbox: AlertOutbox = {
    async enqueue (alert, channelIds) {
      const unique = [...new Set(channelIds)]
      await storage.add(alert, unique.map(channelId => ({ channelId, key: deliveryKey(alert.id, channelId) })), Date.now())
      for (const channelId of unique) workers?.wake(channelId)
    },
    async test (channel) {
      // Sent at once, past the channel's queue (someone is waiting for the answer), then logged.
      const now = Date.now()
      const alert = testAlert(channel, now)
      const key = deliveryKey(alert.id, channel.id)
      const outcome = await senders.send(channel, { key, alert, body: JSON.stringify(alert) }, stopping.signal)
      const state = outcome.delivered ? 'delivered' : 'failed'
      if (stopping.signal.aborted) return outcome
      await storage.add(alert, [{ channelId: channel.id, key, attempt: { at: Date.now(), state, error: outcome.error ?? null } }], now)
      listeners.emit({ kind: 'test', channelId: channel.id, outcome: state })
      return outcome
    },
    list: ({ from, to, limit }) => storage.list(from, to, limit),
    openAlerts: () => storage.openAlerts(),
    onDelivery: listener => listeners.add(listener)
  }
  fastify.decorate('alertOutbox', outbox)

  const clock = options.clock ?? Date.now
  const stopLeading = await leadership.whileLeading('alert delivery', async () => {
    const delivering = createWorkers({ storage, config, senders, retry: { ...DEFAULT_RETRY, ...options.retry }, log, emit: event => listeners.emit(event) })
    workers = delivering
    // What was pending when the process (or the last leader) stopped, crash or not.
    for (const channelId of await storage.pendingChannels()) delivering.wake(channelId)
    // A channel edited (its URL fixed, say) or deleted: its queue is looked at again now, not after its back-off.
    const unsubscribe = config.onAudit(record => {
      for (const item of record.items) if (item.kind === 'channel') delivering.retryNow(item.id)
    })
    const pruning = schedulePruning(() => storage.prune(clock() - LOG_RETENTION_MS), options.pruneIntervalMs ?? HOURLY, log)
    // In a cluster an empty queue may only mean another node's claim (a leader that died mid-send):
    // the pending channels are looked at again until that claim has expired.
    const rewake = cluster === null
      ? null
      : setInterval(() => {
        storage.pendingChannels().then(channels => { for (const channelId of channels) delivering.wake(channelId) }, err => log.warn({ err }, 'could not list the pending alert channels'))
      }, REWAKE_MS)
    rewake?.unref()
    return async () => {
      if (rewake) clearInterval(rewake)
      unsubscribe()
      workers = null
      await pruning.stop()
      await delivering.close()
    }
  })

  fastify.addHook('onClose', async () => {
    stopping.abort()
    await stopLeading()
    await senders.close()
    listeners.clear()
    await storage.close()
  })
}, {
  name: 'estatus-alert-outbox',
  fastify: '5.x',
  dependencies: ['estatus-config-store', 'estatus-leadership']
})
