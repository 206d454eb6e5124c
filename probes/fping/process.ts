/** One fping child: started, read, stopped (SIGTERM, then SIGKILL), its end reported once. */
import { spawn, type ChildProcess } from 'node:child_process'
import { readLines } from './lines.ts'
import { isIcmpErrorLine } from './parse.ts'

export interface PingerLogger {
  info (...a: any[]): void
  warn (...a: any[]): void
  error (...a: any[]): void
  debug (...a: any[]): void
}

/** SIGTERM, then SIGKILL after this long. */
const KILL_GRACE_MS = 2_000
const STDERR_TAIL_LINES = 5
/** fping's stdout is read at most every this many ms (see readLines). */
const READ_BATCH_MS = 50
/** After 'exit', output still in the pipes is read for this long (a grandchild may hold them open). */
const DRAIN_MS = 1000

export interface FpingEnd {
  code: number | null
  signal: NodeJS.Signals | null
  /** The process could not be started at all. */
  spawnError: NodeJS.ErrnoException | null
  /** Its last stderr lines (ICMP error lines left out). */
  stderrTail: string[]
}

export interface FpingChild {
  readonly pid: number | undefined
  /** Resolves once the process has exited (or could not start). */
  readonly exited: Promise<void>
  readonly ended: boolean
  /** SIGTERM, then SIGKILL if it lingers; idempotent. */
  stop (): void
}

export interface FpingStart {
  fpingPath: string
  args: string[]
  log: PingerLogger
  onLine (line: string): void
  /** Called once, when the process and its pipes are done. */
  onEnd (end: FpingEnd): void
}

export function spawnErrorMessage (fpingPath: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') {
    return `fping not found: '${fpingPath}' does not exist or is not on PATH; install the Debian package fping (apt-get install fping)`
  }
  return `fping cannot be started: '${fpingPath}': ${err.message}`
}

/** Consecutive failures after which a shard reports "keeps dying". */
const FAILURES_UNAVAILABLE = 3

/** Why a process ended, and what makes its shard count as unavailable (null: not yet). */
export function describeEnd (fpingPath: string, { code, signal, spawnError, stderrTail }: FpingEnd, run: { results: number, failures: number }): { why: string, failing: string | null } {
  if (spawnError !== null) {
    const why = spawnErrorMessage(fpingPath, spawnError)
    return { why, failing: why }
  }
  const why = `fping exited with ${code !== null ? `code ${code}` : `signal ${signal ?? '?'}`}` +
    (stderrTail.length > 0 ? `: ${stderrTail.join(' | ')}` : '')
  if ((code === null || run.results > 0) && run.failures < FAILURES_UNAVAILABLE) return { why, failing: null }
  const hint = stderrTail.some((l) => l.includes("can't create socket"))
    ? ' (fping needs CAP_NET_RAW: the Debian package sets it on /usr/bin/fping; or run as root)'
    : ''
  return { why, failing: `fping keeps failing: ${why}${hint}` }
}

export function startFping ({ fpingPath, args, log, onLine, onEnd }: FpingStart): FpingChild {
  let markExited!: () => void
  const exited = new Promise<void>((resolve) => { markExited = resolve })
  const stderrTail: string[] = []
  let icmpErrors = 0
  let ended = false
  let stopping = false
  let killTimer: NodeJS.Timeout | null = null
  let child: ChildProcess | null = null

  const end = (code: number | null, signal: NodeJS.Signals | null, spawnError: NodeJS.ErrnoException | null): void => {
    if (ended) return
    ended = true
    if (killTimer !== null) { clearTimeout(killTimer); killTimer = null }
    markExited()
    onEnd({ code, signal, spawnError, stderrTail })
  }

  function onStderrLine (line: string): void {
    const text = line.trim()
    if (text === '') return
    if (isIcmpErrorLine(text)) {
      if (icmpErrors++ % 100 === 0) log.debug({ pid: child?.pid, message: text, count: icmpErrors }, 'fping: ICMP error')
      return
    }
    stderrTail.push(text.slice(0, 300))
    if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift()
    log.debug({ pid: child?.pid, stderr: text }, 'fping: stderr')
  }

  try {
    child = spawn(fpingPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    setImmediate(() => end(null, null, err as NodeJS.ErrnoException))
  }
  const proc = child
  if (proc !== null) {
    const readNow = readLines(proc.stdout, onLine, READ_BATCH_MS)
    readLines(proc.stderr, onStderrLine)
    let spawned = false
    proc.on('spawn', () => { spawned = true })
    proc.on('error', (err: NodeJS.ErrnoException) => {
      if (!spawned && proc.pid === undefined) end(null, null, err)
      else log.debug({ err, pid: proc.pid }, 'fping: child process error')
    })
    // 'close' comes once stdout/stderr are drained too (their last lines explain an exit)
    proc.on('close', (code, signal) => { end(code, signal, null) })
    proc.on('exit', (code, signal) => {
      markExited()
      readNow()
      setTimeout(() => {
        proc.stdout?.destroy()
        proc.stderr?.destroy()
        end(code, signal, null)
      }, DRAIN_MS).unref()
    })
  }

  return {
    get pid () { return proc?.pid },
    exited,
    get ended () { return ended },
    stop () {
      if (stopping) return
      stopping = true
      if (ended || proc === null) return
      try { proc.kill('SIGTERM') } catch { /* already gone */ }
      killTimer = setTimeout(() => {
        killTimer = null
        if (ended) return
        log.warn({ pid: proc.pid }, 'fping: did not exit on SIGTERM, sending SIGKILL')
        try { proc.kill('SIGKILL') } catch { /* already gone */ }
      }, KILL_GRACE_MS)
      killTimer.unref()
    }
  }
}

/** Runs `fping -v` once; `done` gets the spawn error or the output. Returns a way to stop it. */
export function checkFping (fpingPath: string, done: (err: NodeJS.ErrnoException | null, output: string) => void): () => void {
  let out = ''
  let child: ChildProcess
  try {
    child = spawn(fpingPath, ['-v'], { stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    done(err as NodeJS.ErrnoException, '')
    return () => {}
  }
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (d: string) => { if (out.length < 1000) out += d })
  child.stderr?.resume()
  let finished = false
  const finish = (err: NodeJS.ErrnoException | null): void => {
    if (finished) return
    finished = true
    done(err, out)
  }
  child.on('error', (err) => finish(err))
  child.on('close', () => finish(null))
  return () => { try { child.kill('SIGKILL') } catch { /* gone */ } }
}
