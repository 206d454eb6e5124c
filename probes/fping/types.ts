import type { PingerLogger } from './process.ts'

export interface PingResult { address: string; alive: boolean; rttMs?: number; at: number /* epoch ms */ }

export interface PingerOptions {
  /** One echo per target per interval (fping -p); clamped to >= 10 ms. */
  intervalMs: number
  /** Per-echo timeout; effective = min(timeoutMs, intervalMs, 10000), see effectivePingTimeout. */
  timeoutMs: number
  /** Default 'fping' (looked up on PATH). */
  fpingPath?: string
  log: PingerLogger
  /** One call per echo per target: reply OR loss. */
  onResult (result: PingResult): void
  /** A clear message when fping cannot run (missing binary, keeps dying); null when it works again. */
  onAvailability? (error: string | null): void
  /** Tuning: at most this many targets per fping process (default: see shardLayout). */
  maxTargetsPerProcess?: number
}

export interface Pinger {
  /** The complete set of IP literals to probe; applied as a delta. Anything else is dropped (and logged). */
  setTargets (addresses: Iterable<string>): void
  /** Current availability problem, null when fine. */
  readonly error: string | null
  /** Kills all children, clears all timers; idempotent. */
  close (): Promise<void>
}
