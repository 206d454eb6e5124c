import type { MaintenanceWindow } from '../../schemas/alerts.ts'
import { inScope } from './rules.ts'

const PERIOD_MS = { day: 86_400_000, week: 7 * 86_400_000 } as const

/**
 * The occurrence of a window that covers `now` ([start, end)), or null. A repeating window
 * recurs every 24 h or 7 × 24 h after `start` (exact periods, so a window given in a local
 * time with DST moves by an hour in UTC); an occurrence that starts after `until` does not
 * happen. A window longer than its period overlaps the next occurrence.
 */
export function occurrenceAt (window: MaintenanceWindow, now: number): { start: number, end: number } | null {
  const start = Date.parse(window.start)
  const length = Date.parse(window.end) - start
  if (!(length > 0) || now < start) return null
  if (window.repeat === undefined) return now < start + length ? { start, end: start + length } : null
  const period = PERIOD_MS[window.repeat.every]
  const until = window.repeat.until === undefined ? Infinity : Date.parse(window.repeat.until)
  for (let k = Math.floor((now - start) / period); k >= 0 && start + k * period + length > now; k--) {
    const occurrence = start + k * period
    if (occurrence <= until) return { start: occurrence, end: occurrence + length }
  }
  return null
}

/** Whether any window covers the server now. */
export function inMaintenance (windows: readonly MaintenanceWindow[], serverId: string, groupIds: readonly string[], now: number): boolean {
  return windows.some(window => inScope(window.scope, serverId, groupIds) && occurrenceAt(window, now) !== null)
}
