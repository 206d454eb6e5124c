/** Whether fping can run here: a missing binary or a shard that keeps failing, reported once per change. */
import { parseFpingVersion } from './parse.ts'
import { checkFping, spawnErrorMessage, type PingerLogger } from './process.ts'

/** How long to wait before looking for a missing binary again while nothing runs. */
const RECHECK_MS = 30_000

export interface FpingAvailabilityOptions {
  fpingPath: string
  log: PingerLogger
  onAvailability? (error: string | null): void
  /** The first failing shard's message, null if none fails. */
  shardFailure (): string | null
  /** What the "found" log line says about the set-up. */
  details (): Record<string, unknown>
  /** How late losses are reported when fping prints no "timed out" lines. */
  graceMs: number
  /** Whether no shard runs (then only this check can notice fping being installed). */
  idle (): boolean
}

export function createFpingAvailability (o: FpingAvailabilityOptions) {
  const { fpingPath, log } = o
  let error: string | null = null
  /** Set by the version check (or spawn failures) while no shard has shown fping works. */
  let binaryError: string | null = null
  let stopCheck: (() => void) | null = null
  let checkTimer: NodeJS.Timeout | null = null
  let closed = false

  function refresh (): void {
    const e = o.shardFailure() ?? binaryError
    if (e === error) return
    error = e
    if (e !== null) log.error(`fping unavailable: ${e}`)
    else log.info('fping: working again')
    try {
      o.onAvailability?.(e)
    } catch (err) {
      log.error({ err }, 'fping: onAvailability threw')
    }
  }

  function setBinaryError (e: string | null): void {
    binaryError = e
    refresh()
  }

  function onVersion (output: string): void {
    const version = parseFpingVersion(output)
    if (version === null) {
      log.warn({ output: output.trim() }, `fping: '${fpingPath} -v' printed no version`)
      return
    }
    log.info({ version: `${version.major}.${version.minor}`, ...o.details() }, 'fping: found')
    if (version.major < 5) {
      log.warn(`fping ${version.major}.${version.minor} prints no "timed out" lines in loop mode; losses are inferred from missing sequence numbers (reported ${o.graceMs} ms late). Use fping >= 5.0`)
    }
  }

  /** Runs `fping -v` once so a missing binary is reported even before there are targets. */
  function check (): void {
    if (closed || stopCheck !== null) return
    stopCheck = checkFping(fpingPath, (err, output) => {
      stopCheck = null
      if (closed) return
      if (err !== null) {
        setBinaryError(spawnErrorMessage(fpingPath, err))
        if (o.idle()) recheckLater()
        return
      }
      onVersion(output)
      if (binaryError !== null) setBinaryError(null)
    })
  }

  /** Looks for the binary again later while nothing runs that could notice it being installed. */
  function recheckLater (): void {
    if (closed || checkTimer !== null) return
    checkTimer = setTimeout(() => { checkTimer = null; check() }, RECHECK_MS)
    checkTimer.unref()
  }

  function stopRecheck (): void {
    if (checkTimer !== null) { clearTimeout(checkTimer); checkTimer = null }
  }

  return {
    get error () { return error },
    /** Runs the first version check. */
    start: check,
    refresh,
    /** A shard produced results: fping works. */
    works () { setBinaryError(null) },
    /** The shards changed: only an idle pinger looks for a missing binary by itself. */
    shardsChanged () {
      if (!o.idle()) stopRecheck()
      else if (binaryError !== null) recheckLater()
    },
    close () {
      closed = true
      stopRecheck()
      stopCheck?.()
    }
  }
}
