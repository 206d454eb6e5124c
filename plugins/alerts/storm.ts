/**
 * Storm grouping (SPEC §10): when at least half of a group's servers (and at least 3) go
 * down within 60 s, one alert names the group and its servers instead of one per server.
 */

/** Servers count as one storm when they went down within this span. */
export const STORM_WINDOW_MS = 60_000

/**
 * How long a `down` alert of a server in a group that can storm waits after it is due, for
 * its group's other servers to follow. Short and bounded: a switch that fails takes its
 * servers down in the same probe round, and their thresholds may differ by a few rounds.
 */
export const STORM_HOLD_MS = 10_000

/** A group of fewer servers never storms: each of its servers is alerted at once. */
export const MIN_STORM_SERVERS = 3

/** How many of a group's servers make a storm. */
export const stormThreshold = (groupSize: number) => Math.max(MIN_STORM_SERVERS, Math.ceil(groupSize / 2))

/**
 * The largest set of `downs` that went down within one STORM_WINDOW_MS span that includes
 * `anchor` (the server being decided on), earliest first.
 */
export function stormCluster<T extends { since: number }> (downs: readonly T[], anchor: number, windowMs = STORM_WINDOW_MS): T[] {
  const sorted = [...downs].sort((a, b) => a.since - b.since)
  let best: T[] = []
  for (let first = 0; first < sorted.length; first++) {
    const start = sorted[first]!.since
    if (start > anchor) break
    if (anchor - start > windowMs) continue
    let last = first
    while (last + 1 < sorted.length && sorted[last + 1]!.since - start <= windowMs) last++
    if (last - first + 1 > best.length) best = sorted.slice(first, last + 1)
  }
  return best
}
