/**
 * Which echoes of one target (in one fping process) have a result. fping numbers the echoes
 * of each target 0, 1, 2, …; with at most one echo in flight, results come in order except
 * that a reply may overtake the "timed out" line of the echo before it.
 */
export interface Track {
  /** Position on the command line: fping sends seq k to it at about start + k*period + idx*gap. */
  idx: number
  /** All seqs below this are resolved. */
  next: number
  /** Resolved seqs above `next` (results may come out of order by one). */
  ahead: number[]
}

export const newTrack = (idx: number): Track => ({ idx, next: 0, ahead: [] })

/** Whether seq already has its result (fping -l prints a duplicate reply as a second ordinary line). */
export const isResolved = (track: Track, seq: number): boolean => seq < track.next || track.ahead.includes(seq)

export function markResolved (track: Track, seq: number): void {
  if (seq === track.next) {
    track.next++
    while (track.ahead.length > 0) {
      const i = track.ahead.indexOf(track.next)
      if (i < 0) break
      track.ahead.splice(i, 1)
      track.next++
    }
  } else if (seq > track.next) {
    track.ahead.push(seq)
  }
}

/** Resolves every seq below `upTo` (exclusive); `onLost` is called for each that had no result. */
export function resolveUpTo (track: Track, upTo: number, onLost: (seq: number) => void): void {
  while (track.next < upTo) {
    if (!track.ahead.includes(track.next)) onLost(track.next)
    markResolved(track, track.next)
  }
}
