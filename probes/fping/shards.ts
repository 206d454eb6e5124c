/**
 * How targets are spread over fping processes ("shards") and what each is given: few,
 * large shards, each sending a round well inside the period.
 *
 * - `-l` loops forever; `-p MS` is the period between two echoes to one target; `-i MS` is
 *   the minimum gap between any two packets the process sends (a float, sub-millisecond
 *   works), so one process sends at most 1000/i packets per second. In practice each packet
 *   takes i + ~0.1-0.2 ms (timer wake-up; measured on a 2-vCPU VM: 2,500 targets need
 *   2.94 s per round at -i 1, 1.08 s at -i 0.32, 0.78 s at -i 0.2), so a shard of n targets
 *   needs n*(i + PER_PACKET_MS) <= 80 % of the period or it falls behind (fping then just
 *   sends late: fewer echoes than asked, no error). Builds configured with `--enable-safe-limits` refuse `-i < 1` and
 *   `-p < 10` for non-root users with "these options are too risky for mere mortals" (exit 1);
 *   Debian's build has no such limits, and root is never limited. We clamp the period to
 *   >= 10 ms, use a sub-ms gap, and fall back to `-i 1` (smaller shards) if fping refuses.
 * - Cost: every fping process opens its own raw ICMP socket, and the kernel hands EVERY
 *   incoming ICMP packet to EVERY raw socket (each process then discards the other
 *   processes' replies). So n processes cost about n times the wake-ups: 5,000 loopback
 *   targets at 1/s took ~41 % of a core as 7 processes of 800 (-i 1) but ~20 % as 2 of
 *   2,500. Hence few, large shards: at most MAX_PROCESS_PPS echoes/s each (one process
 *   tops out near 4,000/s at -i 0.1 on a 2-vCPU VM).
 * - `-t MS`: in loop mode fping accepts any timeout, also one longer than the period (since
 *   5.0 it then keeps 1 + t/p echoes per target in flight). The 2000 ms cap in `fping -h`
 *   only applies to the *default* timeout (= period, at most 2000). Replies later than the
 *   timeout are dropped, and fping forgets a sequence number after 10 s, so a timeout above
 *   10 s cannot work. We use  effective timeout = min(timeoutMs, intervalMs, 10000)  (see
 *   effectivePingTimeout): at most one echo per target is in flight, results of one target
 *   stay in order (a line for seq n proves seq n-2 is resolved), and a shard restart
 *   abandons at most one in-flight echo per target.
 */
import { isIP } from 'node:net'

/** Echoes per second given to one fping process. */
const MAX_PROCESS_PPS = 2500
/** Smallest -i we use, ms. */
const MIN_GAP_MS = 0.1
/** What one packet costs fping beyond -i (timer wake-up latency), ms; measured 0.1-0.18. */
export const PER_PACKET_MS = 0.15
/** Largest -i we use, and the lowest that builds with safe limits accept for non-root, ms. */
export const SAFE_GAP_MS = 1
/** Lowest period every fping build accepts for non-root users (-p). */
const MIN_PERIOD_MS = 10
/** fping forgets a sequence number 10 s after sending it (seqmap), so later replies are never matched. */
const MAX_TIMEOUT_MS = 10_000
/** A shard's round (targets x gap) must fit well inside the period. */
const SHARD_FILL = 0.8
/** Keeps command lines short (< 64 KB). */
const MAX_SHARD_TARGETS = 4000

/** The period fping is given (-p), ms. */
export function effectivePeriod (intervalMs: number): number {
  return Math.max(MIN_PERIOD_MS, Number.isFinite(intervalMs) ? Math.round(intervalMs) : 1000)
}

/** The timeout fping is actually given, in ms: at most one echo per target in flight. */
export function effectivePingTimeout (intervalMs: number, timeoutMs: number): number {
  const period = effectivePeriod(intervalMs)
  const t = Number.isFinite(timeoutMs) ? Math.round(timeoutMs) : period
  return Math.max(1, Math.min(t, period, MAX_TIMEOUT_MS))
}

export interface ShardLayout {
  /** fping -i, ms */
  gapMs: number
  /** targets per fping process: one round (targets x (gap + PER_PACKET_MS)) takes at most 80 % of the period */
  targetsPerProcess: number
}

/**
 * How targets are split over fping processes at this interval. `safeLimits`: the fping
 * build refuses -i < 1 for this user. `maxTargetsPerProcess` lowers the shard size.
 */
export function shardLayout (intervalMs: number, safeLimits = false, maxTargetsPerProcess?: number): ShardLayout {
  const period = effectivePeriod(intervalMs)
  let n = Math.min(MAX_SHARD_TARGETS, Math.floor(MAX_PROCESS_PPS * period / 1000))
  if (maxTargetsPerProcess !== undefined && maxTargetsPerProcess >= 1) n = Math.min(n, Math.floor(maxTargetsPerProcess))
  n = Math.max(1, n)
  // the largest gap that still fits a round into SHARD_FILL of the period
  const fit = Math.floor(100 * (SHARD_FILL * period / n - PER_PACKET_MS)) / 100
  const gapMs = Math.min(SAFE_GAP_MS, Math.max(safeLimits ? SAFE_GAP_MS : MIN_GAP_MS, fit))
  const targetsPerProcess = Math.max(1, Math.min(n, Math.floor(SHARD_FILL * period / (gapMs + PER_PACKET_MS) + 1e-9)))
  return { gapMs, targetsPerProcess }
}

/** A shard as placement sees it: how full, and whether it restarts anyway. */
export interface ShardFill { size: number, changed: boolean }

/**
 * Where `added` new targets go: first into shards that restart anyway, then where there is
 * most room (each extra shard touched is one more restart), then into new shards.
 * Returns how many go into each existing shard (by position) and the sizes of new shards.
 */
export function placeTargets (shards: ShardFill[], added: number, perProcess: number): { existing: number[], fresh: number[] } {
  const existing = shards.map(() => 0)
  const order = shards.map((_, i) => i).sort((a, b) =>
    Number(shards[b]!.changed) - Number(shards[a]!.changed) || shards[a]!.size - shards[b]!.size)
  let left = added
  for (const i of order) {
    if (left === 0) break
    const take = Math.min(left, Math.max(0, perProcess - shards[i]!.size))
    existing[i] = take
    left -= take
  }
  const fresh: number[] = []
  for (; left > 0; left -= Math.min(left, perProcess)) fresh.push(Math.min(left, perProcess))
  return { existing, fresh }
}

/** Only IP literals are targets: one can never be read as an fping option (or a host name to resolve). */
export function ipTargets (addresses: Iterable<unknown>): { wanted: Set<string>, invalid: unknown[] } {
  const wanted = new Set<string>()
  const invalid: unknown[] = []
  for (const a of addresses) {
    if (typeof a === 'string' && isIP(a) !== 0) wanted.add(a)
    else invalid.push(a)
  }
  return { wanted, invalid }
}
