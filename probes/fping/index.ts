/**
 * ICMP availability prober: drives many targets with a few long-lived `fping -l`
 * processes ("shards"), never one process per probe. What fping 5.x does, as relied on
 * here (checked against fping 5.1 and its source), is noted where it is used: the options
 * and their cost in shards.ts, the output in parse.ts, pipe batching in lines.ts. Here:
 * - When sending fails locally (no route, `unreachable`/`prohibit` route, firewall EPERM)
 *   fping prints NOTHING for that echo in loop mode: no reply, no `timed out`. We detect
 *   such missing sequence numbers ourselves (sweep, see below) and report them as lost.
 * - If our end of the stdout pipe goes away (Node died), fping dies of SIGPIPE at its next
 *   output line, so no orphan keeps pinging.
 * - A target list is fixed for a process's life: a change means a new process (a fork of this
 *   big process: the costliest part of a config change). Changes are coalesced: a changed
 *   shard restarts once its targets were left alone RESTART_QUIET_MS, at the latest
 *   RESTART_MAX_WAIT_MS after the burst began, and at most once per min(period,
 *   RESTART_GAP_MAX_MS); a burst of edits costs one restart, not one each, and none when it
 *   left the list as it was (a server added and deleted again).
 *
 * Modules: parse (output lines), sequence (which echoes have a result), shards (layout and
 * placement), process (one child: start, stop, end), lines (pipe batching), this file (the
 * shards' supervision and the public Pinger).
 */
import { parseFpingLine } from './parse.ts'
import { createFpingAvailability } from './availability.ts'
import { isResolved, markResolved, newTrack, resolveUpTo, type Track } from './sequence.ts'
import { effectivePeriod, effectivePingTimeout, ipTargets, PER_PACKET_MS, placeTargets, SAFE_GAP_MS, shardLayout } from './shards.ts'
import { describeEnd, startFping, type FpingChild, type FpingEnd } from './process.ts'
import type { Pinger, PingerOptions, PingResult } from './types.ts'

export { parseFpingLine, type FpingLine } from './parse.ts'
export { effectivePingTimeout, shardLayout, placeTargets, type ShardLayout } from './shards.ts'
export type { PingerLogger } from './process.ts'
export type { Pinger, PingerOptions, PingResult } from './types.ts'

const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 30_000
/** Retry delay floor when fping cannot even be started (missing binary): retry slowly. */
const SPAWN_RETRY_MIN_MS = 5_000
/** A child that produced results and lived this long ends a failure streak when it exits. */
const STABLE_MS = 5_000
/** A changed shard restarts once its targets were left alone this long (the rest of a burst joins it)… */
const RESTART_QUIET_MS = 200
/** …but at the latest this long after the first change of a burst… */
const RESTART_MAX_WAIT_MS = 3000
/** …and at most once per min(period, this). */
const RESTART_GAP_MAX_MS = 1000

interface Proc {
  shard: Shard
  child: FpingChild
  track: Map<string, Track>
  startedAt: number
  results: number
  retired: boolean
  unparsed: number
}

interface Shard {
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

export function createPinger (opts: PingerOptions): Pinger {
  const log = opts.log
  const fpingPath = opts.fpingPath ?? 'fping'
  const period = effectivePeriod(opts.intervalMs)
  const timeout = effectivePingTimeout(opts.intervalMs, opts.timeoutMs)
  const restartGap = Math.min(period, RESTART_GAP_MAX_MS)
  /** Set when fping refused a sub-millisecond -i ("too risky for mere mortals"). */
  let safeLimits = false
  let layout = shardLayout(opts.intervalMs, safeLimits, opts.maxTargetsPerProcess)
  /** Extra wait before a missing sequence number is declared lost. */
  const grace = period + 1000

  const shards: Shard[] = []
  const byTarget = new Map<string, Shard>()
  const procs = new Set<Proc>()
  let nextShardId = 1
  let closed = false
  let closing: Promise<void> | null = null

  if (timeout < Math.round(opts.timeoutMs)) {
    log.info({ timeoutMs: opts.timeoutMs, intervalMs: period, effectiveTimeoutMs: timeout },
      'fping: ping timeout capped to the interval (one echo in flight per target)')
  }

  // ---- results -------------------------------------------------------------------------

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
    if (proc.results === 1) procWorks(proc)
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
        const due = Math.floor((elapsed - track.idx * (layout.gapMs + PER_PACKET_MS) * 1.5) / period)
        if (due >= track.next) lostUpTo(proc, address, track, due + 1)
      }
    }
  }

  let sweepTimer: NodeJS.Timeout | null = null
  let sweepExpected = 0
  function scheduleSweep (): void {
    if (closed || sweepTimer !== null) return
    const every = Math.max(period, 250)
    sweepExpected = Date.now() + every
    sweepTimer = setTimeout(() => {
      sweepTimer = null
      const late = Date.now() - sweepExpected
      // run after the poll phase so stdout that is already waiting is read first; skip a
      // sweep after a stalled event loop (its lines may still be unread)
      setImmediate(() => {
        if (closed) return
        if (late < 500) sweep()
        scheduleSweep()
      })
    }, every)
    sweepTimer.unref()
  }

  // ---- availability --------------------------------------------------------------------

  const availability = createFpingAvailability({
    fpingPath,
    log,
    onAvailability: opts.onAvailability,
    shardFailure: () => shards.find((s) => s.failing !== null)?.failing ?? null,
    details: () => ({ ...layout, periodMs: period, timeoutMs: timeout }),
    graceMs: grace,
    idle: () => shards.length === 0
  })

  function procWorks (proc: Proc): void {
    const shard = proc.shard
    if (shard.failures > 0) log.info({ shard: shard.id, pid: proc.child.pid }, 'fping: shard recovered')
    shard.failing = null
    availability.works()
  }

  // ---- processes -----------------------------------------------------------------------

  function startProc (shard: Shard): void {
    const targets = [...shard.targets]
    const args = ['-l', '-p', String(period), '-t', String(timeout), '-i', String(layout.gapMs), '--', ...targets]
    const proc: Proc = {
      shard,
      child: undefined as unknown as FpingChild,
      track: new Map(targets.map((address, idx) => [address, newTrack(idx)])),
      startedAt: Date.now(),
      results: 0,
      retired: false,
      unparsed: 0
    }
    procs.add(proc)
    shard.proc = proc
    proc.child = startFping({ fpingPath, args, log, onLine: (line) => onLine(proc, line), onEnd: (end) => procEnded(proc, end) })
    log.debug({ shard: shard.id, pid: proc.child.pid, targets: targets.length }, 'fping: started')
  }

  function procEnded (proc: Proc, end: FpingEnd): void {
    procs.delete(proc)
    const shard = proc.shard
    if (closed || proc.retired || shard.proc !== proc) return
    shard.proc = null
    if (!safeLimits && layout.gapMs < SAFE_GAP_MS && end.stderrTail.some((l) => l.includes('too risky'))) {
      safeLimits = true
      layout = shardLayout(opts.intervalMs, safeLimits, opts.maxTargetsPerProcess)
      log.warn({ stderr: end.stderrTail, ...layout },
        'fping refuses -i < 1 for this user (a build with --enable-safe-limits): using -i 1 and more, smaller processes (run it as root or use a build without safe limits to save CPU)')
      reshard()
      return
    }
    if (proc.results > 0 && Date.now() - proc.startedAt >= STABLE_MS) shard.failures = 0
    shard.failures++
    const { why, failing } = describeEnd(fpingPath, end, { results: proc.results, failures: shard.failures })
    if (failing !== null) shard.failing = failing
    let delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (shard.failures - 1))
    if (end.spawnError !== null) delay = Math.max(delay, SPAWN_RETRY_MIN_MS)
    const ctx = { shard: shard.id, pid: proc.child.pid, targets: shard.targets.size, failures: shard.failures, retryInMs: delay }
    if (shard.failures === 1) log.warn(ctx, `${why}; restarting with back-off`)
    else log.debug(ctx, why)
    shard.restartTimer = setTimeout(() => {
      shard.restartTimer = null
      if (!closed && shards.includes(shard) && shard.proc === null && shard.targets.size > 0) startProc(shard)
    }, delay)
    availability.refresh()
  }

  /** Stops a process: no result of it is expected any more (lines already in the pipe still count). */
  function retire (proc: Proc): void {
    if (proc.retired) return
    proc.retired = true
    proc.child.stop()
  }

  /** New process first, then the old one goes: kept targets do not miss a round. */
  function restartShard (shard: Shard): void {
    if (shard.proc === null) {
      // waiting for a back-off restart: it will start with the new target list; nothing runs now
      if (shard.restartTimer === null) startProc(shard)
      return
    }
    const old = shard.proc
    startProc(shard)
    retire(old)
  }

  /** Whether the running process already probes exactly the shard's targets (a change that was undone). */
  function upToDate (shard: Shard): boolean {
    const running = shard.proc?.track
    if (running === undefined || running.size !== shard.targets.size) return false
    for (const address of shard.targets) if (!running.has(address)) return false
    return true
  }

  /**
   * Coalesces the changes of a burst into one restart per shard (see the file comment):
   * each change pushes the restart RESTART_QUIET_MS out, up to RESTART_MAX_WAIT_MS after the
   * first one, and never sooner than restartGap after the running process started.
   */
  function restartSoon (shard: Shard): void {
    const now = Date.now()
    if (shard.changeTimer !== null) clearTimeout(shard.changeTimer)
    shard.firstChangeAt ??= now
    const earliest = shard.proc === null ? 0 : shard.proc.startedAt + restartGap
    const at = Math.max(earliest, Math.min(now + RESTART_QUIET_MS, shard.firstChangeAt + RESTART_MAX_WAIT_MS))
    shard.changeTimer = setTimeout(() => {
      shard.changeTimer = null
      shard.firstChangeAt = null
      if (!closed && shards.includes(shard) && !upToDate(shard)) restartShard(shard)
    }, at - now)
  }

  /** Rebuilds every shard with the current layout. */
  function reshard (): void {
    const all = [...byTarget.keys()]
    for (const shard of [...shards]) removeShard(shard)
    byTarget.clear()
    setTargets(all)
  }

  function removeShard (shard: Shard): void {
    const i = shards.indexOf(shard)
    if (i >= 0) shards.splice(i, 1)
    if (shard.restartTimer !== null) { clearTimeout(shard.restartTimer); shard.restartTimer = null }
    if (shard.changeTimer !== null) { clearTimeout(shard.changeTimer); shard.changeTimer = null }
    shard.firstChangeAt = null
    if (shard.proc !== null) retire(shard.proc)
    shard.proc = null
  }

  // ---- public --------------------------------------------------------------------------

  function assign (shard: Shard, addresses: string[]): void {
    for (const address of addresses) {
      shard.targets.add(address)
      byTarget.set(address, shard)
    }
  }

  function setTargets (addresses: Iterable<string>): void {
    if (closed) {
      log.warn('fping: setTargets after close() ignored')
      return
    }
    const { wanted, invalid } = ipTargets(addresses)
    if (invalid.length > 0) {
      log.warn({ dropped: invalid.slice(0, 20), count: invalid.length }, 'fping: dropped targets that are not IP literals')
    }
    const changed = new Set<Shard>()
    let removed = 0
    for (const [address, shard] of byTarget) {
      if (wanted.has(address)) continue
      byTarget.delete(address)
      shard.targets.delete(address)
      changed.add(shard)
      removed++
    }
    const added = [...wanted].filter((a) => !byTarget.has(a))
    const plan = placeTargets(shards.map((s) => ({ size: s.targets.size, changed: changed.has(s) })), added.length, layout.targetsPerProcess)
    let next = 0
    shards.forEach((shard, i) => {
      const take = plan.existing[i] ?? 0
      if (take === 0) return
      assign(shard, added.slice(next, next + take))
      next += take
      changed.add(shard)
    })
    for (const size of plan.fresh) {
      const shard: Shard = { id: nextShardId++, targets: new Set(), proc: null, failures: 0, failing: null, restartTimer: null, changeTimer: null, firstChangeAt: null }
      assign(shard, added.slice(next, next + size))
      next += size
      shards.push(shard)
      changed.add(shard)
    }

    if (changed.size === 0) return
    for (const shard of changed) {
      if (shard.targets.size === 0) removeShard(shard)
      else restartSoon(shard)
    }
    availability.shardsChanged()
    log.debug({ added: added.length, removed, changed: changed.size, shards: shards.length, targets: byTarget.size },
      'fping: targets updated')
    scheduleSweep()
    availability.refresh()
  }

  async function close (): Promise<void> {
    if (closing !== null) return await closing
    closed = true
    closing = (async () => {
      if (sweepTimer !== null) { clearTimeout(sweepTimer); sweepTimer = null }
      availability.close()
      for (const shard of [...shards]) removeShard(shard)
      byTarget.clear()
      const waiting = [...procs]
      for (const proc of waiting) retire(proc)
      await Promise.all(waiting.map(async (p) => await p.child.exited))
    })()
    return await closing
  }

  availability.start()

  return {
    setTargets,
    get error () { return availability.error },
    close
  }
}
