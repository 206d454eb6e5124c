/**
 * ICMP availability prober: drives many targets with a few long-lived `fping -l`
 * processes ("shards"), never one process per probe.
 *
 * What fping 5.x does, as relied on here (checked against fping 5.1 and its source):
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
 * - fping line-buffers stdout: one write() per echo, so reading the pipe as data comes
 *   wakes Node once per echo (~4 % of a core at 2,500/s). We read it in batches (see
 *   readLines), at most 20 wake-ups/s per process instead (results up to 50 ms later).
 * - `-t MS`: in loop mode fping accepts any timeout, also one longer than the period (since
 *   5.0 it then keeps 1 + t/p echoes per target in flight). The 2000 ms cap in `fping -h`
 *   only applies to the *default* timeout (= period, at most 2000). Replies later than the
 *   timeout are dropped, and fping forgets a sequence number after 10 s, so a timeout above
 *   10 s cannot work. We use  effective timeout = min(timeoutMs, intervalMs, 10000)  (see
 *   effectivePingTimeout): at most one echo per target is in flight, results of one target
 *   stay in order (a line for seq n proves seq n-2 is resolved), and a shard restart
 *   abandons at most one in-flight echo per target.
 * - Output (stdout, line-buffered): `<name padded> : [seq], 64 bytes, 0.025 ms (...)` and
 *   `<name padded> : [seq], timed out (...)`. RTT has 3/2/1/0 decimals depending on size.
 *   In loop mode a duplicate reply is printed as a second ordinary line with the same seq
 *   (`duplicate for [n]` on stderr only happens outside loop mode), so we de-duplicate.
 *   ICMP errors (`ICMP Host Unreachable from A for ICMP Echo sent to B`) go to stderr and
 *   are followed by the normal `timed out` line.
 * - When sending fails locally (no route, `unreachable`/`prohibit` route, firewall EPERM)
 *   fping prints NOTHING for that echo in loop mode: no reply, no `timed out`. We detect
 *   such missing sequence numbers ourselves (sweep, see below) and report them as lost.
 * - If our end of the stdout pipe goes away (Node died), fping dies of SIGPIPE at its next
 *   output line, so no orphan keeps pinging.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { isIP } from 'node:net'

export interface PingResult { address: string; alive: boolean; rttMs?: number; at: number /* epoch ms */ }

export interface PingerLogger {
  info (...a: any[]): void
  warn (...a: any[]): void
  error (...a: any[]): void
  debug (...a: any[]): void
}

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
  /** fping processes that ended unasked and were started again (estatus_fping_restarts_total). */
  readonly restarts: number
  /** Kills all children, clears all timers; idempotent. */
  close (): Promise<void>
}

/** Echoes per second given to one fping process (see the cost note above). */
const MAX_PROCESS_PPS = 2500
/** Smallest -i we use, ms. */
const MIN_GAP_MS = 0.1
/** What one packet costs fping beyond -i (timer wake-up latency), ms; measured 0.1-0.18. */
const PER_PACKET_MS = 0.15
/** Largest -i we use, and the lowest that builds with safe limits accept for non-root, ms. */
const SAFE_GAP_MS = 1
/** Lowest period every fping build accepts for non-root users (-p). */
const MIN_PERIOD_MS = 10
/** fping forgets a sequence number 10 s after sending it (seqmap), so later replies are never matched. */
const MAX_TIMEOUT_MS = 10_000
/** A shard's round (targets x gap) must fit well inside the period. */
const SHARD_FILL = 0.8
/** Keeps command lines short (< 64 KB). */
const MAX_SHARD_TARGETS = 4000
const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 30_000
/** Retry delay floor when fping cannot even be started (missing binary): retry slowly. */
const SPAWN_RETRY_MIN_MS = 5_000
/** A child that produced results and lived this long ends a failure streak when it exits. */
const STABLE_MS = 5_000
/** Consecutive failures after which a shard reports "keeps dying". */
const FAILURES_UNAVAILABLE = 3
/** SIGTERM, then SIGKILL after this long. */
const KILL_GRACE_MS = 2_000
const STDERR_TAIL_LINES = 5
/** fping's stdout is read at most every this many ms (see readLines). */
const READ_BATCH_MS = 50
const MAX_LINE = 4096

/** The timeout fping is actually given, in ms (see the file comment). */
export function effectivePingTimeout (intervalMs: number, timeoutMs: number): number {
  const period = effectivePeriod(intervalMs)
  const t = Number.isFinite(timeoutMs) ? Math.round(timeoutMs) : period
  return Math.max(1, Math.min(t, period, MAX_TIMEOUT_MS))
}

function effectivePeriod (intervalMs: number): number {
  return Math.max(MIN_PERIOD_MS, Number.isFinite(intervalMs) ? Math.round(intervalMs) : 1000)
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

export interface FpingLine { address: string; seq: number; alive: boolean; rttMs?: number }

const REPLY_RE = /^\[(\d+)\],\s+\d+\s+bytes,\s+(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s+ms\b/
const TIMEOUT_RE = /^\[(\d+)\],\s+timed out\b/

/** Parses one stdout line of `fping -l` (without -D/-e/-A/-n); null for anything else. */
export function parseFpingLine (line: string): FpingLine | null {
  const sep = line.indexOf(' : ')
  if (sep <= 0) return null
  const address = line.slice(0, sep).trim()
  const rest = line.slice(sep + 3).trim()
  if (address === '' || /\s/.test(address) || rest[0] !== '[') return null
  let m = REPLY_RE.exec(rest)
  if (m !== null) {
    const rttMs = Number(m[2])
    if (!Number.isFinite(rttMs)) return null
    return { address, seq: Number(m[1]), alive: true, rttMs }
  }
  m = TIMEOUT_RE.exec(rest)
  if (m !== null) return { address, seq: Number(m[1]), alive: false }
  return null
}

const ICMP_ERROR_RE = /^(.+?) from (\S+) for ICMP Echo sent to (\S+)/

/** Per target and per process: which sequence numbers are resolved. */
interface Track {
  /** Position on the command line: fping sends seq k to it at about start + k*period + idx*gap. */
  idx: number
  /** All seqs below this are resolved. */
  next: number
  /** Resolved seqs above `next` (results may come out of order by one). */
  ahead: number[]
}

interface Proc {
  id: number
  shard: Shard
  child: ChildProcess | null
  pid: number | undefined
  track: Map<string, Track>
  startedAt: number
  results: number
  retired: boolean
  ended: boolean
  exited: Promise<void>
  markExited: () => void
  killTimer: NodeJS.Timeout | null
  stderrTail: string[]
  icmpErrors: number
  unparsed: number
}

interface Shard {
  id: number
  targets: Set<string>
  proc: Proc | null
  failures: number
  failing: string | null
  restartTimer: NodeJS.Timeout | null
}

export function createPinger (opts: PingerOptions): Pinger {
  const log = opts.log
  const fpingPath = opts.fpingPath ?? 'fping'
  const period = effectivePeriod(opts.intervalMs)
  const timeout = effectivePingTimeout(opts.intervalMs, opts.timeoutMs)
  /** Set when fping refused a sub-millisecond -i ("too risky for mere mortals"). */
  let safeLimits = false
  let layout = shardLayout(opts.intervalMs, safeLimits, opts.maxTargetsPerProcess)
  /** Extra wait before a missing sequence number is declared lost. */
  const grace = period + 1000

  const shards: Shard[] = []
  const byTarget = new Map<string, Shard>()
  const procs = new Set<Proc>()
  let nextShardId = 1
  let nextProcId = 1
  let closed = false
  let closing: Promise<void> | null = null
  let error: string | null = null
  let restarts = 0
  /** Set by the startup version check (or spawn failures) while no shard has shown fping works. */
  let binaryError: string | null = null
  let checkChild: ChildProcess | null = null
  let checkTimer: NodeJS.Timeout | null = null

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

  function markResolved (st: Track, seq: number): void {
    if (seq === st.next) {
      st.next++
      while (st.ahead.length > 0) {
        const i = st.ahead.indexOf(st.next)
        if (i < 0) break
        st.ahead.splice(i, 1)
        st.next++
      }
    } else if (seq > st.next) {
      st.ahead.push(seq)
    }
  }

  /** Reports seqs below `upTo` (exclusive) that have no result as lost. */
  function lostUpTo (proc: Proc, address: string, st: Track, upTo: number): void {
    while (st.next < upTo) {
      if (!st.ahead.includes(st.next)) {
        log.debug({ address, seq: st.next, pid: proc.pid }, 'fping: no line for this echo, reporting it lost')
        emit(address, false)
      }
      markResolved(st, st.next)
    }
  }

  function onLine (proc: Proc, line: string): void {
    const p = parseFpingLine(line)
    if (p === null) {
      if (line.trim() !== '' && proc.unparsed++ < 5) log.debug({ line, pid: proc.pid }, 'fping: ignoring unrecognised output')
      return
    }
    const st = proc.track.get(p.address)
    if (st === undefined) return
    // lines of a replaced process still in the pipe are real echoes; keep them unless the target is gone
    if (!byTarget.has(p.address)) return
    if (p.seq < st.next || st.ahead.includes(p.seq)) return // duplicate reply (fping -l prints it again)
    if (p.seq > (Date.now() - proc.startedAt) / period + 2) {
      // cannot have been sent yet: not a line we understand (and no flood of invented losses)
      if (proc.unparsed++ < 5) log.debug({ line, pid: proc.pid }, 'fping: ignoring a sequence number from the future')
      return
    }
    // Results of one target go out in sequence order: with timeout <= period, once seq n has
    // a line every earlier echo is past its timeout, so one still unsettled is lost (its
    // "timed out" line may follow a few microseconds later and is then ignored).
    lostUpTo(proc, p.address, st, p.seq)
    markResolved(st, p.seq)
    proc.results++
    if (proc.results === 1) procWorks(proc)
    emit(p.address, p.alive, p.rttMs)
  }

  function onStderrLine (proc: Proc, line: string): void {
    const text = line.trim()
    if (text === '') return
    const m = ICMP_ERROR_RE.exec(text)
    if (m !== null) {
      // the echo still ends with a normal "timed out" line
      if (proc.icmpErrors++ % 100 === 0) log.debug({ pid: proc.pid, message: text, count: proc.icmpErrors }, 'fping: ICMP error')
      return
    }
    proc.stderrTail.push(text.slice(0, 300))
    if (proc.stderrTail.length > STDERR_TAIL_LINES) proc.stderrTail.shift()
    log.debug({ pid: proc.pid, stderr: text }, 'fping: stderr')
  }

  /** The safety net for echoes fping never reports (send errors, very old fping). */
  function sweep (): void {
    const now = Date.now()
    for (const proc of procs) {
      if (proc.retired || proc.ended) continue
      const elapsed = now - proc.startedAt - timeout - grace
      for (const [address, st] of proc.track) {
        // seq k is due by start + k*period + idx*(gap + overhead) + timeout + grace
        const due = Math.floor((elapsed - st.idx * (layout.gapMs + PER_PACKET_MS) * 1.5) / period)
        if (due >= st.next) lostUpTo(proc, address, st, due + 1)
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

  function refreshAvailability (): void {
    let e: string | null = null
    for (const s of shards) {
      if (s.failing !== null) { e = s.failing; break }
    }
    if (e === null) e = binaryError
    if (e === error) return
    error = e
    if (e !== null) log.error(`fping unavailable: ${e}`)
    else log.info('fping: working again')
    try {
      opts.onAvailability?.(e)
    } catch (err) {
      log.error({ err }, 'fping: onAvailability threw')
    }
  }

  function spawnErrorMessage (err: NodeJS.ErrnoException): string {
    if (err.code === 'ENOENT') {
      return `fping not found: '${fpingPath}' does not exist or is not on PATH; install the Debian package fping (apt-get install fping)`
    }
    return `fping cannot be started: '${fpingPath}': ${err.message}`
  }

  function procWorks (proc: Proc): void {
    const shard = proc.shard
    if (shard.failures > 0) log.info({ shard: shard.id, pid: proc.pid }, 'fping: shard recovered')
    shard.failing = null
    binaryError = null
    refreshAvailability()
  }

  /** Runs `fping -v` once so a missing binary is reported even before there are targets. */
  function checkBinary (): void {
    if (closed || checkChild !== null) return
    let out = ''
    let child: ChildProcess
    try {
      child = spawn(fpingPath, ['-v'], { stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (err) {
      binaryError = spawnErrorMessage(err as NodeJS.ErrnoException)
      refreshAvailability()
      return
    }
    checkChild = child
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (d: string) => { if (out.length < 1000) out += d })
    child.stderr?.resume()
    let done = false
    const finish = (err: NodeJS.ErrnoException | null): void => {
      if (done) return
      done = true
      checkChild = null
      if (closed) return
      if (err !== null) {
        binaryError = spawnErrorMessage(err)
        refreshAvailability()
        if (shards.length === 0) {
          checkTimer = setTimeout(() => { checkTimer = null; checkBinary() }, BACKOFF_MAX_MS)
          checkTimer.unref()
        }
        return
      }
      const m = /Version\s+(\d+)\.(\d+)/.exec(out)
      if (m === null) {
        log.warn({ output: out.trim() }, `fping: '${fpingPath} -v' printed no version`)
      } else {
        log.info({ version: `${m[1]}.${m[2]}`, ...layout, periodMs: period, timeoutMs: timeout }, 'fping: found')
        if (Number(m[1]) < 5) {
          log.warn(`fping ${m[1]}.${m[2]} prints no "timed out" lines in loop mode; losses are inferred from missing sequence numbers (reported ${grace} ms late). Use fping >= 5.0`)
        }
      }
      if (binaryError !== null) {
        binaryError = null
        refreshAvailability()
      }
    }
    child.on('error', (err) => finish(err))
    child.on('close', () => finish(null))
  }

  // ---- processes -----------------------------------------------------------------------

  function startProc (shard: Shard): Proc {
    const targets = [...shard.targets]
    const args = ['-l', '-p', String(period), '-t', String(timeout), '-i', String(layout.gapMs), '--', ...targets]
    let markExited!: () => void
    const exited = new Promise<void>((resolve) => { markExited = resolve })
    const proc: Proc = {
      id: nextProcId++,
      shard,
      child: null,
      pid: undefined,
      track: new Map(targets.map((address, idx) => [address, { idx, next: 0, ahead: [] }])),
      startedAt: Date.now(),
      results: 0,
      retired: false,
      ended: false,
      exited,
      markExited,
      killTimer: null,
      stderrTail: [],
      icmpErrors: 0,
      unparsed: 0
    }
    procs.add(proc)
    shard.proc = proc
    let child: ChildProcess
    try {
      child = spawn(fpingPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (err) {
      setImmediate(() => procEnded(proc, null, null, err as NodeJS.ErrnoException))
      return proc
    }
    proc.child = child
    proc.pid = child.pid
    log.debug({ shard: shard.id, pid: child.pid, targets: targets.length }, 'fping: started')

    const readNow = readLines(child.stdout, (line) => onLine(proc, line), READ_BATCH_MS)
    readLines(child.stderr, (line) => onStderrLine(proc, line))
    let spawned = false
    child.on('spawn', () => { spawned = true })
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (!spawned && child.pid === undefined) procEnded(proc, null, null, err)
      else log.debug({ err, pid: proc.pid }, 'fping: child process error')
    })
    // 'close' comes once stdout/stderr are drained too (their last lines explain an exit)
    child.on('close', (code, signal) => { procEnded(proc, code, signal, null) })
    child.on('exit', (code, signal) => {
      proc.markExited()
      readNow()
      // a grandchild (wrapper script) could keep the pipes open: do not wait forever for them
      setTimeout(() => {
        child.stdout?.destroy()
        child.stderr?.destroy()
        procEnded(proc, code, signal, null)
      }, 1000).unref()
    })
    return proc
  }

  function procEnded (proc: Proc, code: number | null, signal: NodeJS.Signals | null, spawnErr: NodeJS.ErrnoException | null): void {
    if (proc.ended) return
    proc.ended = true
    if (proc.killTimer !== null) { clearTimeout(proc.killTimer); proc.killTimer = null }
    procs.delete(proc)
    proc.markExited()
    const shard = proc.shard
    if (closed || proc.retired || shard.proc !== proc) return
    shard.proc = null
    if (!safeLimits && layout.gapMs < SAFE_GAP_MS && proc.stderrTail.some((l) => l.includes('too risky'))) {
      safeLimits = true
      layout = shardLayout(opts.intervalMs, safeLimits, opts.maxTargetsPerProcess)
      log.warn({ stderr: proc.stderrTail, ...layout },
        'fping refuses -i < 1 for this user (a build with --enable-safe-limits): using -i 1 and more, smaller processes (run it as root or use a build without safe limits to save CPU)')
      reshard()
      return
    }
    if (proc.results > 0 && Date.now() - proc.startedAt >= STABLE_MS) shard.failures = 0
    shard.failures++
    let delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (shard.failures - 1))
    let why: string
    if (spawnErr !== null) {
      why = spawnErrorMessage(spawnErr)
      shard.failing = why
      delay = Math.max(delay, SPAWN_RETRY_MIN_MS)
    } else {
      why = `fping exited with ${code !== null ? `code ${code}` : `signal ${signal ?? '?'}`}` +
        (proc.stderrTail.length > 0 ? `: ${proc.stderrTail.join(' | ')}` : '')
      if ((code !== null && proc.results === 0) || shard.failures >= FAILURES_UNAVAILABLE) {
        const hint = proc.stderrTail.some((l) => l.includes("can't create socket"))
          ? ' (fping needs CAP_NET_RAW: the Debian package sets it on /usr/bin/fping; or run as root)'
          : ''
        shard.failing = `fping keeps failing: ${why}${hint}`
      }
    }
    const ctx = { shard: shard.id, pid: proc.pid, targets: shard.targets.size, failures: shard.failures, retryInMs: delay }
    if (shard.failures === 1) log.warn(ctx, `${why}; restarting with back-off`)
    else log.debug(ctx, why)
    restarts++
    shard.restartTimer = setTimeout(() => {
      shard.restartTimer = null
      if (!closed && shards.includes(shard) && shard.proc === null && shard.targets.size > 0) startProc(shard)
    }, delay)
    refreshAvailability()
  }

  /** Stops a process: no result of it is expected any more (lines already in the pipe still count). */
  function retire (proc: Proc): void {
    if (proc.retired) return
    proc.retired = true
    if (proc.ended || proc.child === null) return
    const child = proc.child
    try { child.kill('SIGTERM') } catch { /* already gone */ }
    proc.killTimer = setTimeout(() => {
      proc.killTimer = null
      if (!proc.ended) {
        log.warn({ pid: proc.pid }, 'fping: did not exit on SIGTERM, sending SIGKILL')
        try { child.kill('SIGKILL') } catch { /* already gone */ }
      }
    }, KILL_GRACE_MS)
    proc.killTimer.unref()
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
    if (shard.proc !== null) retire(shard.proc)
    shard.proc = null
  }

  // ---- public --------------------------------------------------------------------------

  function setTargets (addresses: Iterable<string>): void {
    if (closed) {
      log.warn('fping: setTargets after close() ignored')
      return
    }
    const wanted = new Set<string>()
    const invalid: unknown[] = []
    for (const a of addresses) {
      // an IP literal can never be read as an fping option (or a host name to resolve)
      if (typeof a === 'string' && isIP(a) !== 0) wanted.add(a)
      else invalid.push(a)
    }
    if (invalid.length > 0) {
      log.warn({ dropped: invalid.slice(0, 20), count: invalid.length }, 'fping: dropped targets that are not IP literals')
    }

    const changed = new Set<Shard>()
    const removed: string[] = []
    for (const [address, shard] of byTarget) {
      if (wanted.has(address)) continue
      byTarget.delete(address)
      shard.targets.delete(address)
      changed.add(shard)
      removed.push(address)
    }
    const added = [...wanted].filter((a) => !byTarget.has(a))

    // place new targets: first into shards that restart anyway, then where there is most room
    // (each extra shard touched is one restart), then into new shards
    let next = 0
    const candidates = [...shards].sort((a, b) =>
      Number(changed.has(b)) - Number(changed.has(a)) || a.targets.size - b.targets.size)
    for (const shard of candidates) {
      if (next >= added.length) break
      const room = layout.targetsPerProcess - shard.targets.size
      if (room <= 0) continue
      for (const address of added.slice(next, next + room)) {
        shard.targets.add(address)
        byTarget.set(address, shard)
      }
      next += Math.min(room, added.length - next)
      changed.add(shard)
    }
    while (next < added.length) {
      const shard: Shard = { id: nextShardId++, targets: new Set(), proc: null, failures: 0, failing: null, restartTimer: null }
      for (const address of added.slice(next, next + layout.targetsPerProcess)) {
        shard.targets.add(address)
        byTarget.set(address, shard)
      }
      next += shard.targets.size
      shards.push(shard)
      changed.add(shard)
    }

    if (changed.size === 0) return
    for (const shard of changed) {
      if (shard.targets.size === 0) removeShard(shard)
      else restartShard(shard)
    }
    if (shards.length > 0 && checkTimer !== null) { clearTimeout(checkTimer); checkTimer = null }
    if (shards.length === 0 && binaryError !== null && checkTimer === null) {
      // nothing runs that could notice fping being installed: look for it now and then
      checkTimer = setTimeout(() => { checkTimer = null; checkBinary() }, BACKOFF_MAX_MS)
      checkTimer.unref()
    }
    log.debug({ added: added.length, removed: removed.length, restarted: changed.size, shards: shards.length, targets: byTarget.size },
      'fping: targets updated')
    scheduleSweep()
    refreshAvailability()
  }

  async function close (): Promise<void> {
    if (closing !== null) return await closing
    closed = true
    closing = (async () => {
      if (sweepTimer !== null) { clearTimeout(sweepTimer); sweepTimer = null }
      if (checkTimer !== null) { clearTimeout(checkTimer); checkTimer = null }
      if (checkChild !== null) { try { checkChild.kill('SIGKILL') } catch { /* gone */ } }
      for (const shard of [...shards]) removeShard(shard)
      byTarget.clear()
      const waiting = [...procs]
      for (const proc of waiting) retire(proc)
      await Promise.all(waiting.map(async (p) => await p.exited))
    })()
    return await closing
  }

  checkBinary()

  return {
    setTargets,
    get error () { return error },
    get restarts () { return restarts },
    close
  }
}

interface PipeHandle { readStart (): number, readStop (): number }

/**
 * Splits a child's pipe into lines. With batchMs > 0 the pipe is read in batches: after each
 * chunk the stream's libuv handle stops reading for batchMs (output waits in the pipe buffer,
 * 64 KiB, ~400 ms of output at 2,500 lines/s) and starts again, so a busy fping wakes the event
 * loop ~1000/batchMs times a second instead of once per line. readStop/readStart are the
 * (undocumented) methods of the handle behind every Node pipe; without them, reading is plain
 * flowing mode.
 */
function readLines (stream: NodeJS.ReadableStream | null, onLine: (line: string) => void, batchMs = 0): () => void {
  if (stream === null) return () => {}
  let buf = ''
  stream.setEncoding('utf8')
  const handle = (stream as unknown as { _handle?: Partial<PipeHandle> | null })._handle
  const canBatch = batchMs > 0 && typeof handle?.readStop === 'function' && typeof handle.readStart === 'function'
  let stopped = false
  let timer: NodeJS.Timeout | null = null
  const restart = (): void => {
    if (timer !== null) { clearTimeout(timer); timer = null }
    if (!stopped) return
    stopped = false
    const current = (stream as unknown as { _handle?: unknown })._handle
    if (current !== handle || (stream as unknown as { destroyed?: boolean }).destroyed === true) return
    try { (handle as PipeHandle).readStart() } catch { /* closed meanwhile */ }
  }
  stream.on('data', (chunk: string) => {
    if (canBatch && !stopped) {
      stopped = true
      try { (handle as PipeHandle).readStop() } catch { /* closed meanwhile */ }
      timer = setTimeout(restart, batchMs)
    }
    buf += chunk
    let start = 0
    let nl: number
    while ((nl = buf.indexOf('\n', start)) >= 0) {
      onLine(buf.slice(start, nl))
      start = nl + 1
    }
    buf = buf.slice(start)
    if (buf.length > MAX_LINE) buf = '' // no newline in sight: garbage, drop it
  })
  stream.on('error', () => { /* the process' exit is handled elsewhere */ })
  /** Reads on right away (e.g. to see the end of a process' output). */
  return restart
}
