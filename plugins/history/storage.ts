/**
 * What the history keeps (SPEC §9), behind a small interface so that cluster mode (§12)
 * can put the same tables in PostgreSQL. Times are epoch milliseconds; a row's `t` is the
 * start of its minute, hour or UTC day.
 */

/** What one server did in one period: a minute, or an hour or day rolled up from minutes. */
export interface Tally {
  probes: number
  replies: number
  /** Round-trip times in microseconds (integers keep the rows small); null without replies. */
  rttMinUs: number | null
  rttSumUs: number
  rttMaxUs: number | null
  /** Milliseconds the server was known to be online, and known at all ("monitored"). */
  onlineMs: number
  monitoredMs: number
}

export interface MinuteRecord extends Tally {
  serverId: string
  t: number
}

/** The largest use of one disk seen in one hour (MiB, as the monitor reports it). */
export interface DiskRecord {
  serverId: string
  /** Stable within a server: the source and the SNMP index or LUN name. */
  disk: string
  source: 'snmp' | 'netapp'
  name: string
  index?: number
  t: number
  usedMiB: number
  totalMiB: number
}

export interface Transition {
  serverId: string
  at: number
  online: boolean
}

export interface Incident {
  start: number
  end: number | null
}

/** A disk's key within its server: the source and the SNMP index or LUN name. */
export const diskKey = (disk: { source: string, index?: number, name?: string }) => `${disk.source}:${disk.index ?? disk.name ?? ''}`

export type Step = '1m' | '1h' | '1d'
export const STEP_MS: Record<Step, number> = { '1m': 60_000, '1h': 3_600_000, '1d': 86_400_000 }

export interface SeriesPoint extends Tally { t: number }

export interface DiskSeries {
  disk: string
  source: 'snmp' | 'netapp'
  name: string
  index?: number
  points: Array<{ t: number, usedMiB: number, totalMiB: number }>
}

/** Rows wholly before these times are removed; null keeps them forever. */
export interface RetentionCutoffs {
  minutes: number
  hours: number
  days: number | null
  transitions: number
}

export interface HistoryStorage {
  /** Adds minute tallies (a minute may come in parts, e.g. around a restart) and rolls them into hours and days. */
  record (minutes: MinuteRecord[], disks: DiskRecord[]): Promise<void>
  recordTransition (transition: Transition): Promise<void>
  /** Each server's last recorded state (true = online). */
  lastStates (): Promise<Map<string, boolean>>
  series (serverId: string, step: Step, from: number, to: number): Promise<SeriesPoint[]>
  /** Sums per server over the rows of one step starting in [from, to); one server or all. */
  totals (step: Step, from: number, to: number, serverId?: string): Promise<Map<string, Tally>>
  /** Incidents overlapping [from, to), newest first. */
  incidents (serverId: string, from: number, to: number, limit: number): Promise<Incident[]>
  diskSeries (serverId: string, step: '1h' | '1d', from: number, to: number): Promise<DiskSeries[]>
  /** Removes old rows in short transactions, yielding between them. */
  prune (cutoffs: RetentionCutoffs): Promise<void>
  /** Removes every row of these servers. */
  deleteServers (ids: string[]): Promise<void>
  serverIds (): Promise<string[]>
  close (): Promise<void>
}

export const emptyTally = (): Tally => ({ probes: 0, replies: 0, rttMinUs: null, rttSumUs: 0, rttMaxUs: null, onlineMs: 0, monitoredMs: 0 })

const minOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b))
const maxOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b))

/** Adds `part` into `into` (the same arithmetic the database does when it rolls up). */
export function addTally (into: Tally, part: Tally): Tally {
  into.probes += part.probes
  into.replies += part.replies
  into.rttMinUs = minOf(into.rttMinUs, part.rttMinUs)
  into.rttSumUs += part.rttSumUs
  into.rttMaxUs = maxOf(into.rttMaxUs, part.rttMaxUs)
  into.onlineMs += part.onlineMs
  into.monitoredMs += part.monitoredMs
  return into
}
