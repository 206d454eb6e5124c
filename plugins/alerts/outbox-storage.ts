import type { Alert, AlertKind, AlertLogEntry, DeliveryState } from '../../schemas/alerts.ts'
import type { OpenAlert } from './types.ts'

/**
 * Where the outbox keeps alerts and their deliveries (SPEC §10), behind a small interface so
 * that cluster mode (§12) can put the same tables in PostgreSQL. Times are epoch milliseconds.
 *
 * Each channel's deliveries form one queue in the order they were added: a worker sends
 * the head and only then the next, so a channel's `up` never overtakes its `down`.
 */

/** A delivery as its channel's worker sees it. */
export interface QueuedDelivery {
  key: string
  channelId: string
  attempts: number
  /** When it was committed: the retries stop this long after (RetryPolicy.giveUpAfterMs). */
  createdAt: number
  nextAttemptAt: number
  alert: Alert
  /** The alert's JSON text as stored: what a webhook is sent, byte for byte on every attempt. */
  body: string
}

/** The result of one attempt. */
export interface AttemptRecord {
  key: string
  at: number
  state: DeliveryState
  /** When `pending`: the next attempt. */
  nextAttemptAt: number | null
  /** Status and a short reason, already redacted; null when delivered. */
  error: string | null
}

export interface NewDelivery {
  channelId: string
  key: string
  /** A test alert is sent before it is logged; its one attempt is stored with it. */
  attempt?: Omit<AttemptRecord, 'key' | 'nextAttemptAt'>
}

export interface OutboxStorage {
  /**
   * The alert and its deliveries in one transaction; resolves once committed. An alert id
   * already stored, or a delivery to a channel it already has, is left as it is.
   */
  add (alert: Alert, deliveries: NewDelivery[], now: number): Promise<void>
  /**
   * The first `limit` pending deliveries of a channel in queue order. (In PostgreSQL a node
   * claims them with `FOR UPDATE SKIP LOCKED`, so one node works a channel at a time.)
   */
  queue (channelId: string, limit: number): Promise<QueuedDelivery[]>
  /** The channels that have pending deliveries. */
  pendingChannels (): Promise<string[]>
  record (attempt: AttemptRecord): Promise<void>
  /**
   * Gives up the pending deliveries of a channel committed before `before` (all of them when
   * null): they become `failed` with `error`. Returns the kinds of their alerts.
   */
  abandon (channelId: string, before: number | null, error: string): Promise<AlertKind[]>
  /** Gives up one pending delivery without an attempt: it becomes `failed` with `error`. */
  fail (key: string, error: string): Promise<void>
  /**
   * For an `up`: whether the `down` it follows on its channel (the latest before it of the
   * same rule, naming the same server or storm group) ended `failed`.
   */
  downFailed (delivery: QueuedDelivery): Promise<boolean>
  /** A channel's pending deliveries waiting for a later attempt are due at `now` (its configuration changed). */
  retryNow (channelId: string, now: number): Promise<void>
  /**
   * Deletes the alerts whose `at` is before `before` and none of whose deliveries is pending,
   * with their deliveries; returns how many alerts.
   */
  prune (before: number): Promise<number>
  /** Alerts whose `at` is in [from, to], newest first, each with its deliveries. */
  list (from: number, to: number, limit: number): Promise<AlertLogEntry[]>
  /**
   * From the whole log, per rule and server (a storm's alert counts for each server it
   * names): the latest of its `down` and `up` alerts if that is a `down`, and per disk and
   * condition the latest `disk` alert. One query, run once at start.
   */
  openAlerts (): Promise<OpenAlert[]>
  close (): Promise<void>
}
