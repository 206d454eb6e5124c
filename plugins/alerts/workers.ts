import type { FastifyBaseLogger } from 'fastify'
import type { Channel } from '../../schemas/alerts.ts'
import type { AlertConfig, DeliveryEvent } from './types.ts'
import type { OutboxStorage, QueuedDelivery } from './outbox-storage.ts'
import type { Senders } from './senders/index.ts'

/** Exponential back-off (SPEC §10: 1 s … 1 h, for 24 h); tests shrink it. */
export interface RetryPolicy {
  firstDelayMs: number
  maxDelayMs: number
  /** Counted from the commit of the alert: a delivery still not through by then is `failed`. */
  giveUpAfterMs: number
}
export const DEFAULT_RETRY: RetryPolicy = { firstDelayMs: 1000, maxDelayMs: 3_600_000, giveUpAfterMs: 86_400_000 }

/** The wait after the `attempts`-th failed attempt. */
export const retryDelay = (policy: RetryPolicy, attempts: number) => Math.min(policy.firstDelayMs * 2 ** (attempts - 1), policy.maxDelayMs)

/** The wait a receiver asked for (`Retry-After`), kept within the back-off's bounds. */
export const askedDelay = (policy: RetryPolicy, askedMs: number) => Math.min(Math.max(askedMs, policy.firstDelayMs), policy.maxDelayMs)

const inWords = (ms: number) => (ms >= 3_600_000 ? `${ms / 3_600_000} h` : `${ms / 1000} s`)

/** Deliveries read from a channel's queue at a time. */
const BATCH = 50

export interface WorkerOptions {
  storage: OutboxStorage
  config: AlertConfig
  senders: Senders
  retry: RetryPolicy
  log: FastifyBaseLogger
  emit (event: DeliveryEvent): void
}

export interface Workers {
  /** Something was queued for this channel: its worker looks now (when not already at work). */
  wake (channelId: string): void
  /** The channel's configuration changed: its deliveries waiting for a retry are tried now. */
  retryNow (channelId: string): void
  /**
   * Stops every worker; an attempt in flight is cut short and stays pending for the next
   * start, unless it was already delivered (then it is recorded so).
   */
  close (): Promise<void>
}

/**
 * One worker per channel, each working its own queue in order, one delivery at a time: a slow
 * or dead receiver holds only its own channel. A failed head is retried after its back-off
 * before anything behind it is sent (the channel is down; its `up` must not overtake its
 * `down`); deliveries older than the give-up time fail without an attempt.
 */
export function createWorkers (options: WorkerOptions): Workers {
  const { storage, config, senders, retry, log } = options
  const stopping = new AbortController()
  const workers = new Map<string, { wake (): void, retryNow (): void, idle (): Promise<void> }>()

  function createWorker (channelId: string) {
    let timer: NodeJS.Timeout | undefined
    let running: Promise<void> | undefined
    let again = false

    const failAll = (kinds: readonly DeliveryEvent['kind'][]) => {
      for (const kind of kinds) options.emit({ kind, channelId, outcome: 'failed' })
    }

    /** One attempt, committed; resolves with when the head must wait until, or null to go on. */
    async function attempt (channel: Channel, delivery: QueuedDelivery): Promise<number | null> {
      const outcome = await senders.send(channel, { key: delivery.key, alert: delivery.alert, body: delivery.body }, stopping.signal)
      const at = Date.now()
      if (outcome.delivered) {
        // Recorded while stopping too: a delivery known to be through is never sent again.
        await storage.record({ key: delivery.key, at, state: 'delivered', nextAttemptAt: null, error: null })
        options.emit({ kind: delivery.alert.kind, channelId, outcome: 'delivered' })
        return null
      }
      // Stopped mid-attempt: the outcome is unknown, so it stays pending (the key makes a repeat harmless).
      if (stopping.signal.aborted) return null
      const attempts = delivery.attempts + 1
      const next = at + (outcome.retryAfterMs === undefined ? retryDelay(retry, attempts) : askedDelay(retry, outcome.retryAfterMs))
      // A refusal for good (HTTP 4xx) fails at once: the next alert in the queue goes.
      const givingUp = outcome.permanent === true || next - delivery.createdAt > retry.giveUpAfterMs
      await storage.record({ key: delivery.key, at, state: givingUp ? 'failed' : 'pending', nextAttemptAt: givingUp ? null : next, error: outcome.error ?? null })
      options.emit({ kind: delivery.alert.kind, channelId, outcome: givingUp ? 'failed' : 'retried' })
      log.warn({ channelId, key: delivery.key, attempts, error: outcome.error, gaveUp: givingUp }, 'alert delivery failed')
      return givingUp ? null : next
    }

    /**
     * Works the queue until it is empty or stopped (resolves null) or its head must wait
     * (resolves when to look again). The head is read alone first, so a channel in back-off
     * costs one row per wake; the channel is read per delivery: an edit applies from the next
     * attempt, and a deletion stops the batch (what is left fails at the top of the loop).
     */
    async function work (): Promise<number | null> {
      for (;;) {
        if (config.channel(channelId) === undefined) {
          failAll(await storage.abandon(channelId, null, 'the channel no longer exists'))
          return null
        }
        failAll(await storage.abandon(channelId, Date.now() - retry.giveUpAfterMs, `gave up after ${inWords(retry.giveUpAfterMs)}`))
        const [head] = await storage.queue(channelId, 1)
        if (head === undefined) return null
        if (head.nextAttemptAt > Date.now()) return head.nextAttemptAt
        for (const delivery of await storage.queue(channelId, BATCH)) {
          if (delivery.nextAttemptAt > Date.now()) return delivery.nextAttemptAt
          const channel = config.channel(channelId)
          if (channel === undefined) break
          // SPEC §10: an `up` only for a `down` that was sent; one whose `down` failed here would puzzle.
          if (delivery.alert.kind === 'up' && await storage.downFailed(delivery)) {
            await storage.fail(delivery.key, 'its down alert was not delivered')
            failAll(['up'])
            continue
          }
          const waitUntil = await attempt(channel, delivery)
          if (stopping.signal.aborted) return null
          if (waitUntil !== null) return waitUntil
        }
      }
    }

    function wake () {
      clearTimeout(timer)
      if (stopping.signal.aborted) return
      if (running !== undefined) {
        again = true
        return
      }
      running = work().then(next => next, err => {
        log.error({ err, channelId }, 'alert delivery worker failed; retrying')
        return Date.now() + retry.firstDelayMs
      }).then(next => {
        running = undefined
        if (again) {
          again = false
          wake()
        } else if (next !== null && !stopping.signal.aborted) {
          timer = setTimeout(wake, Math.max(0, next - Date.now()))
          timer.unref()
        }
      })
    }

    /** The channel changed (a URL fixed, say): what waits for its back-off is tried now. */
    function retryNow () {
      storage.retryNow(channelId, Date.now()).then(wake, err => log.error({ err, channelId }, 'could not reschedule alert deliveries'))
    }

    return { wake, retryNow, idle: async () => { clearTimeout(timer); await running } }
  }

  const workerOf = (channelId: string) => {
    let worker = workers.get(channelId)
    if (worker === undefined) workers.set(channelId, worker = createWorker(channelId))
    return worker
  }

  return {
    wake: channelId => workerOf(channelId).wake(),
    retryNow (channelId) {
      if (!stopping.signal.aborted) workerOf(channelId).retryNow()
    },
    async close () {
      stopping.abort()
      await Promise.all([...workers.values()].map(worker => worker.idle()))
    }
  }
}
