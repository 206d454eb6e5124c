import type { FastifyBaseLogger } from 'fastify'
import type { ServerConfig } from '../../schemas/config.ts'
import type { DiskInfo, ServerStatus } from '../../schemas/status.ts'
import type { EstatusEvent } from '../../schemas/events.ts'

/** One probe outcome, after the state machine handled it (history, metrics). */
export type MonitorResult =
  | { kind: 'ping', serverId: string, at: number /* epoch ms */, alive: boolean, rttMs?: number, isOnline: boolean }
  | { kind: 'disks', serverId: string, at: number, diskInfo: DiskInfo[] | null, error?: string }

/** What the monitor keeps per configured server. */
export interface Entry {
  server: ServerConfig
  status: ServerStatus
  /** The probe target's address; null while a name is unresolved. */
  address: string | null
  /** Whether the last disk round had a failure (diskUpdate is sent once when this flips). */
  diskFailing: boolean
}

/** What the availability and disk parts share with the plugin. */
export interface MonitorContext {
  log: FastifyBaseLogger
  entries: ReadonlyMap<string, Entry>
  publish (event: EstatusEvent): void
  /** Hands a result to every onResult listener. */
  emit (result: MonitorResult): void
}
