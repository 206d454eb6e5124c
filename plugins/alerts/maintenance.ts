import type { MaintenanceWindow } from '../../schemas/alerts.ts'
import { inScope } from './rules.ts'

const PERIOD_MS = { day: 86_400_000, week: 7 * 86_400_000 } as const

/**
 * The occurrence of a window that covers `now` ([start, end)), or null. A repeating window
 * recurs every 24 h or 7 × 24 h after `start` (exact periods, so a window given in a local
 * time with DST moves by an hour in UTC); an occurrence that starts after `until` does not
 * happen. The store keeps a repeating window shorter than its period, so at most one
 * occurrence covers any moment.
 */
export function occurrenceAt (window: MaintenanceWindow, now: number): { start: number, end: number } | null {
  const start = Date.parse(window.start)
  const length = Date.parse(window.end) - start
  if (!(length > 0) || now < start) return null
  const period = window.repeat === undefined ? Infinity : PERIOD_MS[window.repeat.every]
  const occurrence = window.repeat === undefined ? start : start + Math.floor((now - start) / period) * period
  const until = window.repeat?.until === undefined ? Infinity : Date.parse(window.repeat.until)
  return now < occurrence + length && occurrence <= until ? { start: occurrence, end: occurrence + length } : null
}

/** Whether any window covers the server now. */
export function inMaintenance (windows: readonly MaintenanceWindow[], serverId: string, groupIds: readonly string[], now: number): boolean {
  return windows.some(window => inScope(window.scope, serverId, groupIds) && occurrenceAt(window, now) !== null)
}
