/**
 * SNMP v2c disk probe (SPEC §6.2): reads hrStorageTable rows (HOST-RESOURCES-MIB)
 * for the configured storage indexes of one host with the `net-snmp` package.
 *
 * - One session per call, closed in `finally` (no socket survives a call).
 * - `timeoutMs` bounds the whole call: net-snmp's per-attempt timeout × attempts ≤
 *   timeoutMs, plus a guard timer in case no callback ever arrives.
 * - hrStorageSize / hrStorageUsed are Integer32: a negative value is a 32-bit count
 *   wrapped by the agent (Windows does this above 2^31 units) and is read as value + 2^32.
 * - A missing index (NoSuchInstance / NoSuchObject) fails that disk only; a failure of
 *   the whole request (timeout, agent down, unresolvable host) fails every disk.
 * - The community is a secret: it never appears in an error message.
 * - `signal` aborts the call: the session is closed at once and every disk is
 *   `{ok: false, error: 'aborted'}` (the call still resolves, it never throws).
 */
import { createRequire } from 'node:module'
import { isIPv6 } from 'node:net'
import type { DiskInfo } from '../schemas/status.ts'
import { ABORTED, diskFigures, type DiskReading } from './disk-reading.ts'

export interface SnmpDiskTarget {
  host: string
  port: number
  community: string
  disks: Array<{ index: number, name?: string }>
  timeoutMs: number
  /** Aborts the call: the session is closed at once, every disk reads `{ok: false, error: 'aborted'}`. */
  signal?: AbortSignal
}

// ---------------------------------------------------------------------------
// The part of net-snmp's (untyped, CommonJS) API used here.

export interface SnmpVarbind { oid: string, type: number, value: unknown }

interface SnmpSession {
  get: (oids: string[], cb: (error: Error | null, varbinds?: SnmpVarbind[]) => void) => unknown
  close: () => unknown
  on: (event: string, listener: (...args: unknown[]) => void) => unknown
}

interface SnmpSessionOptions {
  port: number
  version: number
  retries: number
  timeout: number
  backoff: number
  transport: 'udp4' | 'udp6'
}

interface NetSnmp {
  Version2c: number
  ObjectType: Record<string, number | string>
  createSession: (target: string, community: string, options: SnmpSessionOptions) => SnmpSession
  isVarbindError: (varbind: SnmpVarbind) => boolean
  varbindError: (varbind: SnmpVarbind) => string
}

const snmp = createRequire(import.meta.url)('net-snmp') as NetSnmp

// ---------------------------------------------------------------------------

/** hrStorageEntry; columns .3 descr, .4 allocation units, .5 size, .6 used. */
export const HR_STORAGE_ENTRY = '1.3.6.1.2.1.25.2.3.1'
const COL_DESCR = 3
const COL_UNITS = 4
const COL_SIZE = 5
const COL_USED = 6
const COLUMNS = [COL_DESCR, COL_UNITS, COL_SIZE, COL_USED] as const

/** Storage rows per GET request: 8 rows = 32 varbinds keeps a response well under 1,500 bytes. */
const ROWS_PER_REQUEST = 8
/** Extra time the guard timer grants net-snmp beyond timeoutMs before giving up on it. */
const GUARD_SLACK_MS = 250
const TWO_POW_32 = 4294967296

/** An Integer32 read as a count: negative values are unsigned counts wrapped by the agent. */
export function unwrapInteger32 (value: number): number {
  return value < 0 ? value + TWO_POW_32 : value
}

function endpoint (host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`
}

function oidOf (column: number, index: number): string {
  return `${HR_STORAGE_ENTRY}.${column}.${index}`
}

function describeRequestError (err: Error, where: string, timeoutMs: number): string {
  if (err.name === 'RequestTimedOutError') {
    return `SNMP request to ${where} timed out after ${timeoutMs} ms (agent down or unreachable, or the community is not accepted)`
  }
  if (err.name === 'RequestFailedError') {
    return `SNMP request to ${where} failed: the agent answered with error status ${err.message}`
  }
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return `SNMP request to ${where} failed: host name could not be resolved (${code})`
  }
  return `SNMP request to ${where} failed: ${err.message}`
}

function typeName (type: number): string {
  const name = snmp.ObjectType[type]
  return typeof name === 'string' ? name : `type ${type}`
}

function readCount (vb: SnmpVarbind, what: string): number {
  if (typeof vb.value !== 'number' || !Number.isInteger(vb.value)) {
    throw new Error(`${what} is not an integer (${typeName(vb.type)})`)
  }
  return vb.value
}

function readDescr (vb: SnmpVarbind): string {
  const v = vb.value
  if (Buffer.isBuffer(v)) {
    // Some agents NUL-terminate or pad the string.
    let end = v.length
    while (end > 0 && v[end - 1] === 0) end--
    return v.subarray(0, end).toString('utf8')
  }
  if (typeof v === 'string') return v
  return ''
}

type RowResult = { ok: true, varbinds: Map<number, SnmpVarbind> } | { ok: false, error: string }

/**
 * Issue one GET and resolve with its varbinds or a request-level error message.
 * `aborts` holds a callback per pending GET; the caller runs them on abort.
 */
function getOnce (session: SnmpSession, oids: string[], where: string, timeoutMs: number, aborts: Set<() => void>): Promise<{ varbinds?: SnmpVarbind[], error?: string }> {
  return new Promise((resolve) => {
    let settled = false
    const settle = (r: { varbinds?: SnmpVarbind[], error?: string }): void => {
      if (settled) return
      settled = true
      clearTimeout(guard)
      aborts.delete(abort)
      resolve(r)
    }
    const abort = (): void => { settle({ error: ABORTED }) }
    aborts.add(abort)
    // net-snmp always calls back (timeout, socket error, close), but a guard costs nothing
    // and makes the bound independent of its internals.
    const guard = setTimeout(() => {
      settle({ error: `SNMP request to ${where} timed out after ${timeoutMs} ms (agent down or unreachable, or the community is not accepted)` })
    }, timeoutMs + GUARD_SLACK_MS)
    try {
      session.get(oids, (error, varbinds) => {
        if (error != null) settle({ error: describeRequestError(error, where, timeoutMs) })
        else settle({ varbinds: varbinds ?? [] })
      })
    } catch (err) {
      settle({ error: describeRequestError(err as Error, where, timeoutMs) })
    }
  })
}

/** A disk that could not be read, named as configured (no `name` key when it has none). */
function failedDisk ({ index, name }: { index: number, name?: string | undefined }, error: string): DiskReading {
  return name === undefined ? { ok: false, index, error } : { ok: false, index, name, error }
}

function buildDisk (index: number, name: string | undefined, vbs: Map<number, SnmpVarbind>, where: string): DiskReading {
  const fail = (error: string): DiskReading => failedDisk({ index, name }, error)
  for (const column of COLUMNS) {
    const vb = vbs.get(column)
    if (vb === undefined) return fail(`SNMP agent at ${where} returned no value for ${oidOf(column, index)}`)
    if (snmp.isVarbindError(vb)) {
      return fail(`storage index ${index} not found on SNMP agent ${where} (hrStorageTable has no such row: ${snmp.varbindError(vb)})`)
    }
  }
  try {
    const description = readDescr(vbs.get(COL_DESCR)!)
    const units = readCount(vbs.get(COL_UNITS)!, 'hrStorageAllocationUnits')
    if (units <= 0) throw new Error(`hrStorageAllocationUnits is ${units}`)
    const size = unwrapInteger32(readCount(vbs.get(COL_SIZE)!, 'hrStorageSize'))
    const used = unwrapInteger32(readCount(vbs.get(COL_USED)!, 'hrStorageUsed'))
    const disk: DiskInfo = { ...diskFigures(size * units, used * units), description, index, source: 'snmp' }
    if (name !== undefined) disk.name = name
    return { ok: true, disk }
  } catch (err) {
    return fail(`storage index ${index} on SNMP agent ${where}: ${(err as Error).message}`)
  }
}

/**
 * Read the configured disks of one host. Never rejects: every configured disk gets one
 * entry, in configured order, either `{ok: true, disk}` or `{ok: false, error}`.
 */
export async function readSnmpDisks (target: SnmpDiskTarget): Promise<DiskReading[]> {
  const { host, port, community, disks } = target
  const where = endpoint(host, port)
  const failAll = (error: string): DiskReading[] => disks.map(d => failedDisk(d, error))

  if (disks.length === 0) return []
  const timeoutMs = Math.floor(target.timeoutMs)
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1) return failAll(`invalid SNMP timeout ${String(target.timeoutMs)} ms`)
  if (!Number.isInteger(port) || port < 1 || port > 65535) return failAll(`invalid SNMP port ${String(port)}`)
  if (typeof host !== 'string' || host.length === 0) return failAll('no SNMP host configured')
  const { signal } = target
  // A function, not a narrowed property: the signal may abort at any await.
  const aborted = (): boolean => signal?.aborted === true
  if (aborted()) return failAll(ABORTED)

  // Total time = attempt timeout × attempts ≤ timeoutMs. One retry when the budget
  // allows an attempt of at least 500 ms (UDP loss on a real network), else none.
  const retries = timeoutMs >= 1000 ? 1 : 0
  const attemptMs = Math.max(1, Math.floor(timeoutMs / (retries + 1)))

  // Distinct, valid indexes, chunked into GET requests.
  const indexes: number[] = []
  const rows = new Map<number, RowResult>()
  for (const d of disks) {
    if (!Number.isInteger(d.index) || d.index < 0 || d.index > 2147483647) {
      rows.set(d.index, { ok: false, error: `invalid storage index ${String(d.index)}` })
    } else if (!rows.has(d.index) && !indexes.includes(d.index)) {
      indexes.push(d.index)
    }
  }

  let session: SnmpSession | undefined
  let closed = false
  const close = (): void => {
    if (session === undefined || closed) return
    closed = true
    try { session.close() } catch { /* already closed */ }
  }
  // Pending GETs; on abort they resolve at once (net-snmp would report the closed socket only later).
  const aborts = new Set<() => void>()
  const onAbort = (): void => {
    close()
    for (const abort of [...aborts]) abort()
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    try {
      session = snmp.createSession(host, community, {
        port,
        version: snmp.Version2c,
        retries,
        timeout: attemptMs,
        backoff: 1,
        transport: isIPv6(host) ? 'udp6' : 'udp4'
      })
    } catch (err) {
      return failAll(describeRequestError(err as Error, where, timeoutMs))
    }
    // A malformed datagram is reported as an 'error' event; without a listener it
    // would crash the process.
    session.on('error', () => {})

    const chunks: number[][] = []
    for (let i = 0; i < indexes.length; i += ROWS_PER_REQUEST) chunks.push(indexes.slice(i, i + ROWS_PER_REQUEST))

    const s = session
    await Promise.all(chunks.map(async (chunk) => {
      const oids = chunk.flatMap(index => COLUMNS.map(column => oidOf(column, index)))
      const { varbinds, error } = await getOnce(s, oids, where, timeoutMs, aborts)
      if (varbinds === undefined) {
        for (const index of chunk) rows.set(index, { ok: false, error: error ?? `SNMP request to ${where} failed` })
        return
      }
      const byOid = new Map<string, SnmpVarbind>()
      for (const vb of varbinds) byOid.set(vb.oid, vb)
      // net-snmp keeps request order; fall back to position if the agent rewrote an OID.
      chunk.forEach((index, i) => {
        const cols = new Map<number, SnmpVarbind>()
        COLUMNS.forEach((column, j) => {
          const vb = byOid.get(oidOf(column, index)) ?? varbinds[i * COLUMNS.length + j]
          if (vb !== undefined) cols.set(column, vb)
        })
        rows.set(index, { ok: true, varbinds: cols })
      })
    }))
  } finally {
    signal?.removeEventListener('abort', onAbort)
    close()
  }
  // Aborted during the call: every disk says so, whatever some requests already answered.
  if (aborted()) return failAll(ABORTED)

  return disks.map((d): DiskReading => {
    const row = rows.get(d.index)
    if (row === undefined || !row.ok) return failedDisk(d, row?.error ?? `SNMP request to ${where} failed`)
    return buildDisk(d.index, d.name, row.varbinds, where)
  })
}
