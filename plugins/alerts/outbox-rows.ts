import type { Alert, AlertLogEntry, Delivery } from '../../schemas/alerts.ts'
import type { QueuedDelivery } from './outbox-storage.ts'
import type { OpenAlert } from './types.ts'

/**
 * The rows the outbox's queries answer, the same from SQLite and PostgreSQL (camelCase
 * columns, times in epoch milliseconds), and what the storage interface makes of them.
 */

export interface DeliveryRow {
  key: string
  channelId: string
  state: Delivery['state']
  attempts: number
  createdAt: number
  nextAttemptAt: number | null
  lastAttemptAt: number | null
  deliveredAt: number | null
  lastError: string | null
}

export interface QueueRow extends DeliveryRow {
  body: string
}

/** An alert joined to one of its deliveries, or to none (`key` null). */
export type LogRow = (DeliveryRow | { key: null }) & { alertId: string, body: string }

export interface OpenAlertRow extends Pick<OpenAlert, 'kind' | 'ruleId' | 'serverId' | 'at'> {
  since: string
  position: number | null
  groupId: string | null
  groupName: string | null
  diskName: string | null
  byDays: 0 | 1
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

function toDelivery (row: DeliveryRow): Delivery {
  return {
    channelId: row.channelId,
    key: row.key,
    state: row.state,
    attempts: row.attempts,
    lastAttemptAt: iso(row.lastAttemptAt),
    deliveredAt: iso(row.deliveredAt),
    nextAttemptAt: row.state === 'pending' ? iso(row.nextAttemptAt) : null,
    lastError: row.lastError
  }
}

export function toQueued (row: QueueRow): QueuedDelivery {
  return {
    key: row.key,
    channelId: row.channelId,
    attempts: row.attempts,
    createdAt: row.createdAt,
    nextAttemptAt: row.nextAttemptAt ?? row.createdAt,
    alert: JSON.parse(row.body) as Alert,
    body: row.body
  }
}

/** Rows in the log's order (each alert's rows together) to one entry per alert. */
export function toLogEntries (rows: LogRow[]): AlertLogEntry[] {
  const entries = new Map<string, AlertLogEntry>()
  for (const row of rows) {
    let entry = entries.get(row.alertId)
    if (entry === undefined) entries.set(row.alertId, entry = { ...JSON.parse(row.body) as Alert, deliveries: [] })
    if (row.key !== null) entry.deliveries.push(toDelivery(row as DeliveryRow))
  }
  return [...entries.values()]
}

export function toOpenAlert (row: OpenAlertRow): OpenAlert {
  return {
    kind: row.kind,
    ruleId: row.ruleId,
    serverId: row.serverId,
    at: row.at,
    since: Date.parse(row.since),
    ...(row.groupId !== null && { storm: { group: { id: row.groupId, name: row.groupName! }, position: row.position ?? 0 } }),
    ...(row.kind === 'disk' && { disk: { name: row.diskName!, byDays: row.byDays === 1 } })
  }
}
