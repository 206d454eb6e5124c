import type { Alert, AlertKind, AlertLogEntry, AlertRule, Channel, DeliveryOutcome, MaintenanceWindow } from '../../schemas/alerts.ts'
import type { AuditListener } from '../../lib/store/types.ts'

/**
 * The seams between the parts of SPEC §10: the alert configuration (the store), the
 * rules (`alerting.ts`) and the durable delivery (`outbox.ts`).
 */

/** Read access to the alert configuration; the store implements it. */
export interface AlertConfig {
  channels (): readonly Channel[]
  channel (id: string): Channel | undefined
  alertRules (): readonly AlertRule[]
  maintenanceWindows (): readonly MaintenanceWindow[]
}

/** Every committed change, item by item, from the store: the outbox looks again at a changed channel's queue. */
export interface ConfigChanges {
  onAudit (listener: AuditListener): () => void
}

export type { DeliveryOutcome }

/** One attempt's outcome as the worker sees it: what the test route answers, and whether and when to try again. */
export interface AttemptOutcome extends DeliveryOutcome {
  /** The receiver refused this alert for good (HTTP 4xx but 408, 425 and 429): it is not retried. */
  permanent?: boolean
  /** The wait the receiver asked for (`Retry-After` on 429 and 503). */
  retryAfterMs?: number
}

export interface AlertQuery { from: number, to: number, limit: number }

/**
 * What the alert log says is still in force for one rule and one server: its latest `down`
 * or `up` was a `down` (alone or in a storm), or its latest `disk` alert of one disk and
 * condition. The rules take these up at start as already sent (engine.ts `restore`).
 * Times are epoch milliseconds.
 */
export interface OpenAlert {
  kind: 'down' | 'disk'
  ruleId: string
  serverId: string
  /** When it was sent: a re-notification counts from here. */
  at: number
  since: number
  /** A storm's `down`: its group, and the server's place in the alert's list of servers. */
  storm?: { group: { id: string, name: string }, position: number }
  /** A `disk` alert: the disk's name as the alert gives it, and whether it was the days-to-full condition. */
  disk?: { name: string, byDays: boolean }
}

/**
 * What became of one attempt (or, for `failed`, of a delivery given up without one): for
 * `estatus_alerts_total{kind,channel,outcome}`. `retried`: the attempt failed and another follows.
 */
export interface DeliveryEvent {
  kind: AlertKind
  channelId: string
  outcome: 'delivered' | 'retried' | 'failed'
}

/**
 * The durable outbox (in the history database). `enqueue` resolves once the alert and one
 * pending delivery per channel are committed, before any attempt; per-channel workers then
 * deliver with back-off, and a restart resumes what is pending.
 */
export interface AlertOutbox {
  enqueue (alert: Alert, channelIds: readonly string[]): Promise<void>
  /** Sends a `test` alert to one channel now (logged like any alert); resolves with the outcome. */
  test (channel: Channel): Promise<DeliveryOutcome>
  /** The alert log with each channel's delivery state, newest first. */
  list (query: AlertQuery): Promise<AlertLogEntry[]>
  /** The alerts still in force (see OpenAlert): what the rules had sent before a restart. */
  openAlerts (): Promise<OpenAlert[]>
  /** Called after every attempt's outcome is committed; returns the unsubscribe function. */
  onDelivery (listener: (event: DeliveryEvent) => void): () => void
}
