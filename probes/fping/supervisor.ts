/** The shards' processes: started, replaced (coalesced, new before old), restarted with back-off when they die. */
import { newTrack } from './sequence.ts'
import { SAFE_GAP_MS, shardLayout } from './shards.ts'
import { describeEnd, startFping, type FpingChild, type FpingEnd } from './process.ts'
import type { PingerState, Proc, Shard } from './types.ts'

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

export interface SupervisorHooks {
  onLine (proc: Proc, line: string): void
  /** A shard failed or recovered. */
  availabilityChanged (): void
  /** fping refused the gap: every shard is to be rebuilt with the new layout. */
  reshard (): void
}

export function createSupervisor (state: PingerState, hooks: SupervisorHooks) {
  const { opts, fpingPath, period, timeout, shards, procs } = state
  const log = opts.log
  const restartGap = Math.min(period, RESTART_GAP_MAX_MS)

  function startProc (shard: Shard): void {
    const targets = [...shard.targets]
    const args = ['-l', '-p', String(period), '-t', String(timeout), '-i', String(state.layout.gapMs), '--', ...targets]
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
    proc.child = startFping({ fpingPath, args, log, onLine: (line) => hooks.onLine(proc, line), onEnd: (end) => procEnded(proc, end) })
    log.debug({ shard: shard.id, pid: proc.child.pid, targets: targets.length }, 'fping: started')
  }

  function procEnded (proc: Proc, end: FpingEnd): void {
    procs.delete(proc)
    const shard = proc.shard
    if (state.closed || proc.retired || shard.proc !== proc) return
    shard.proc = null
    if (!state.safeLimits && state.layout.gapMs < SAFE_GAP_MS && end.stderrTail.some((l) => l.includes('too risky'))) {
      state.safeLimits = true
      state.layout = shardLayout(opts.intervalMs, true, opts.maxTargetsPerProcess)
      log.warn({ stderr: end.stderrTail, ...state.layout },
        'fping refuses -i < 1 for this user (a build with --enable-safe-limits): using -i 1 and more, smaller processes (run it as root or use a build without safe limits to save CPU)')
      hooks.reshard()
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
    state.restarts++
    shard.restartTimer = setTimeout(() => {
      shard.restartTimer = null
      if (!state.closed && shards.includes(shard) && shard.proc === null && shard.targets.size > 0) startProc(shard)
    }, delay)
    hooks.availabilityChanged()
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
      if (!state.closed && shards.includes(shard) && !upToDate(shard)) restartShard(shard)
    }, at - now)
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

  return { restartSoon, removeShard, retire }
}
