import type { FpingChild, PingerLogger } from './process.ts'
import type { Track } from './sequence.ts'
import type { ShardLayout } from './shards.ts'

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
  /** The complete set of IP literals to probe, applied as a delta; costs the whole set. Anything else is dropped (and logged). */
  setTargets (addresses: Iterable<string>): void
  /**
   * Adds and removes targets (already probed or unknown ones are left as they are), at a cost
   * of the change, not of the whole set: what a monitor of 50,000 servers calls per change.
   */
  changeTargets (added: Iterable<string>, removed: Iterable<string>): void
  /** Current availability problem, null when fine. */
  readonly error: string | null
  /** fping processes that ended unasked and were started again (estatus_fping_restarts_total). */
  readonly restarts: number
  /** Kills all children, clears all timers; idempotent. */
  close (): Promise<void>
}

/** One fping process of a shard, and which of its echoes have a result. */
export interface Proc {
  shard: Shard
  child: FpingChild
  track: Map<string, Track>
  startedAt: number
  results: number
  retired: boolean
  unparsed: number
}

/** A set of targets probed by one process at a time. */
export interface Shard {
  id: number
  targets: Set<string>
  proc: Proc | null
  failures: number
  failing: string | null
  /** A back-off restart after the process died. */
  restartTimer: NodeJS.Timeout | null
  /** A coalesced restart for a changed target list… */
  changeTimer: NodeJS.Timeout | null
  /** …due at the latest RESTART_MAX_WAIT_MS after this. */
  firstChangeAt: number | null
}

/** What the parts of a pinger share. */
export interface PingerState {
  readonly opts: PingerOptions
  readonly fpingPath: string
  /** fping -p and -t, ms. */
  readonly period: number
  readonly timeout: number
  /** Extra wait before a missing sequence number is declared lost. */
  readonly grace: number
  layout: ShardLayout
  /** Set when fping refused a sub-millisecond -i ("too risky for mere mortals"). */
  safeLimits: boolean
  closed: boolean
  /** fping processes that ended unasked and were restarted. */
  restarts: number
  /** For log lines. */
  lastShardId: number
  readonly shards: Shard[]
  readonly byTarget: Map<string, Shard>
  readonly procs: Set<Proc>
}
