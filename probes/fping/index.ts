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
 *   shard restarts once its targets were left alone RESTART_QUIET_MS (supervisor.ts), at the latest
 *   RESTART_MAX_WAIT_MS after the burst began, and at most once per min(period,
 *   RESTART_GAP_MAX_MS); a burst of edits costs one restart, not one each, and none when it
 *   left the list as it was (a server added and deleted again).
 *
 * Modules: parse (output lines), sequence (which echoes have a result), results (lines to
 * results, the sweep), shards (layout and placement), supervisor (the shards' processes),
 * process (one child: start, stop, end), lines (pipe batching), availability (is fping
 * usable), types, and this file (the public Pinger).
 */
import { createFpingAvailability } from './availability.ts'
import { createResultReader } from './results.ts'
import { effectivePeriod, effectivePingTimeout, ipTargets, placeTargets, shardLayout } from './shards.ts'
import { createSupervisor } from './supervisor.ts'
import type { Pinger, PingerOptions, PingerState, Shard } from './types.ts'

export { parseFpingLine, type FpingLine } from './parse.ts'
export { effectivePingTimeout, shardLayout, placeTargets, type ShardLayout } from './shards.ts'
export type { PingerLogger } from './process.ts'
export type { Pinger, PingerOptions, PingResult } from './types.ts'

const newShard = (id: number): Shard => ({ id, targets: new Set(), proc: null, failures: 0, failing: null, restartTimer: null, changeTimer: null, firstChangeAt: null })

/**
 * Applies a change of the target set to the shards: `removed` targets leave their shard, new
 * ones in `added` are placed (see placeTargets; a shard already waiting to restart counts as
 * changed, so a burst spread over ticks keeps joining it). Costs O(change + shards), whatever
 * the number of targets. Returns the shards whose list changed.
 */
function updateShards (state: PingerState, added: Set<string>, removed: Iterable<string>): { changed: Set<Shard>, added: number, removed: number } {
  const { shards, byTarget } = state
  const changed = new Set<Shard>()
  let removedCount = 0
  for (const address of removed) {
    const shard = byTarget.get(address)
    if (shard === undefined) continue
    byTarget.delete(address)
    shard.targets.delete(address)
    changed.add(shard)
    removedCount++
  }
  const placed = [...added].filter((a) => !byTarget.has(a))
  const plan = placeTargets(shards.map((s) => ({ size: s.targets.size, changed: changed.has(s) || s.changeTimer !== null })), placed.length, state.layout.targetsPerProcess)
  let next = 0
  const assign = (shard: Shard, count: number): void => {
    for (const address of placed.slice(next, next + count)) {
      shard.targets.add(address)
      byTarget.set(address, shard)
    }
    next += count
    changed.add(shard)
  }
  shards.forEach((shard, i) => { if ((plan.existing[i] ?? 0) > 0) assign(shard, plan.existing[i]!) })
  for (const size of plan.fresh) {
    const shard = newShard(++state.lastShardId)
    shards.push(shard)
    assign(shard, size)
  }
  return { changed, added: placed.length, removed: removedCount }
}

export function createPinger (opts: PingerOptions): Pinger {
  const log = opts.log
  const period = effectivePeriod(opts.intervalMs)
  const state: PingerState = {
    opts,
    fpingPath: opts.fpingPath ?? 'fping',
    period,
    timeout: effectivePingTimeout(opts.intervalMs, opts.timeoutMs),
    grace: period + 1000,
    layout: shardLayout(opts.intervalMs, false, opts.maxTargetsPerProcess),
    safeLimits: false,
    closed: false,
    restarts: 0,
    lastShardId: 0,
    shards: [],
    byTarget: new Map(),
    procs: new Set()
  }
  const { shards, byTarget, procs } = state
  let closing: Promise<void> | null = null

  if (state.timeout < Math.round(opts.timeoutMs)) {
    log.info({ timeoutMs: opts.timeoutMs, intervalMs: period, effectiveTimeoutMs: state.timeout },
      'fping: ping timeout capped to the interval (one echo in flight per target)')
  }

  const availability = createFpingAvailability({
    fpingPath: state.fpingPath,
    log,
    onAvailability: opts.onAvailability,
    shardFailure: () => shards.find((s) => s.failing !== null)?.failing ?? null,
    details: () => ({ ...state.layout, periodMs: period, timeoutMs: state.timeout }),
    graceMs: state.grace,
    idle: () => shards.length === 0
  })
  const reader = createResultReader(state, (proc) => {
    const shard = proc.shard
    if (shard.failures > 0) log.info({ shard: shard.id, pid: proc.child.pid }, 'fping: shard recovered')
    shard.failing = null
    availability.works()
  })
  const supervisor = createSupervisor(state, {
    onLine: reader.onLine,
    availabilityChanged: availability.refresh,
    reshard () {
      const all = [...byTarget.keys()]
      for (const shard of [...shards]) supervisor.removeShard(shard)
      byTarget.clear()
      setTargets(all)
    }
  })

  function setTargets (addresses: Iterable<string>): void {
    const wanted = validTargets(addresses)
    if (wanted === null) return
    changeShards(wanted, [...byTarget.keys()].filter((a) => !wanted.has(a)))
  }

  function changeTargets (added: Iterable<string>, removed: Iterable<string>): void {
    const wanted = validTargets(added)
    if (wanted !== null) changeShards(wanted, removed)
  }

  /** The IP literals among `addresses` (the rest is logged); null after close(). */
  function validTargets (addresses: Iterable<string>): Set<string> | null {
    if (state.closed) {
      log.warn('fping: target change after close() ignored')
      return null
    }
    const { wanted, invalid } = ipTargets(addresses)
    if (invalid.length > 0) {
      log.warn({ dropped: invalid.slice(0, 20), count: invalid.length }, 'fping: dropped targets that are not IP literals')
    }
    return wanted
  }

  function changeShards (added: Set<string>, removed: Iterable<string>): void {
    const { changed, added: addedCount, removed: removedCount } = updateShards(state, added, removed)
    if (changed.size === 0) return
    for (const shard of changed) {
      if (shard.targets.size === 0) supervisor.removeShard(shard)
      else supervisor.restartSoon(shard)
    }
    availability.shardsChanged()
    log.debug({ added: addedCount, removed: removedCount, changed: changed.size, shards: shards.length, targets: byTarget.size }, 'fping: targets updated')
    reader.scheduleSweep()
    availability.refresh()
  }

  async function close (): Promise<void> {
    if (closing !== null) return await closing
    state.closed = true
    closing = (async () => {
      reader.stop()
      availability.close()
      for (const shard of [...shards]) supervisor.removeShard(shard)
      byTarget.clear()
      const waiting = [...procs]
      for (const proc of waiting) supervisor.retire(proc)
      await Promise.all(waiting.map(async (p) => await p.child.exited))
    })()
    return await closing
  }

  availability.start()

  return {
    setTargets,
    changeTargets,
    get error () { return availability.error },
    get restarts () { return state.restarts },
    close
  }
}
