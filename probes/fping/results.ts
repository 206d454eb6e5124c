/** fping's lines turned into results: in order per target, duplicates dropped, missing echoes reported lost. */
import { parseFpingLine } from './parse.ts'
import { isResolved, markResolved, resolveUpTo, type Track } from './sequence.ts'
import { PER_PACKET_MS } from './shards.ts'
import type { PingerState, PingResult, Proc } from './types.ts'

export function createResultReader (state: PingerState, onFirstResult: (proc: Proc) => void) {
  const { opts, period, timeout, grace, procs, byTarget } = state
  const log = opts.log

  function emit (address: string, alive: boolean, rttMs?: number): void {
    const r: PingResult = alive ? { address, alive, rttMs, at: Date.now() } : { address, alive, at: Date.now() }
    try {
      opts.onResult(r)
    } catch (err) {
      log.error({ err }, 'fping: onResult threw')
    }
  }

  /** Reports seqs below `upTo` (exclusive) that have no result as lost. */
  function lostUpTo (proc: Proc, address: string, track: Track, upTo: number): void {
    resolveUpTo(track, upTo, (seq) => {
      log.debug({ address, seq, pid: proc.child.pid }, 'fping: no line for this echo, reporting it lost')
      emit(address, false)
    })
  }

  function onLine (proc: Proc, line: string): void {
    const p = parseFpingLine(line)
    if (p === null) {
      if (line.trim() !== '' && proc.unparsed++ < 5) log.debug({ line, pid: proc.child.pid }, 'fping: ignoring unrecognised output')
      return
    }
    const track = proc.track.get(p.address)
    if (track === undefined) return
    // lines of a replaced process still in the pipe are real echoes; keep them unless the target is gone
    if (!byTarget.has(p.address)) return
    if (isResolved(track, p.seq)) return // duplicate reply (fping -l prints it again)
    if (p.seq > (Date.now() - proc.startedAt) / period + 2) {
      // cannot have been sent yet: not a line we understand (and no flood of invented losses)
      if (proc.unparsed++ < 5) log.debug({ line, pid: proc.child.pid }, 'fping: ignoring a sequence number from the future')
      return
    }
    // Results of one target go out in sequence order: with timeout <= period, once seq n has
    // a line every earlier echo is past its timeout, so one still unsettled is lost (its
    // "timed out" line may follow a few microseconds later and is then ignored).
    lostUpTo(proc, p.address, track, p.seq)
    markResolved(track, p.seq)
    proc.results++
    if (proc.results === 1) onFirstResult(proc)
    emit(p.address, p.alive, p.rttMs)
  }

  /** The safety net for echoes fping never reports (send errors, very old fping). */
  function sweep (): void {
    const now = Date.now()
    for (const proc of procs) {
      if (proc.retired || proc.child.ended) continue
      const elapsed = now - proc.startedAt - timeout - grace
      for (const [address, track] of proc.track) {
        // seq k is due by start + k*period + idx*(gap + overhead) + timeout + grace
        const due = Math.floor((elapsed - track.idx * (state.layout.gapMs + PER_PACKET_MS) * 1.5) / period)
        if (due >= track.next) lostUpTo(proc, address, track, due + 1)
      }
    }
  }

  let sweepTimer: NodeJS.Timeout | null = null
  let sweepExpected = 0
  function scheduleSweep (): void {
    if (state.closed || sweepTimer !== null) return
    const every = Math.max(period, 250)
    sweepExpected = Date.now() + every
    sweepTimer = setTimeout(() => {
      sweepTimer = null
      const late = Date.now() - sweepExpected
      // run after the poll phase so stdout that is already waiting is read first; skip a
      // sweep after a stalled event loop (its lines may still be unread)
      setImmediate(() => {
        if (state.closed) return
        if (late < 500) sweep()
        scheduleSweep()
      })
    }, every)
    sweepTimer.unref()
  }

  return {
    onLine,
    scheduleSweep,
    stop () {
      if (sweepTimer !== null) { clearTimeout(sweepTimer); sweepTimer = null }
    }
  }
}
