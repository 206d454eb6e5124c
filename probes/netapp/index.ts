/**
 * NetApp ONTAP LUN space probe (SPEC §6.2), over REST (ONTAP 9.6+) or ZAPI (legacy).
 *
 * - One undici Agent per call (TLS verification per target), destroyed in `finally`.
 * - `timeoutMs` bounds the whole call, every page included (one deadline timer), and
 *   also each connect / headers / body phase.
 * - `signal` aborts the call: the request in flight stops at once, the Agent is destroyed,
 *   and every LUN is `{ok: false, error: 'aborted'}` (not a time-out).
 * - LUNs are matched by their path (`/vol/vol1/lun1`). A path may be qualified with the
 *   SVM as `svm1:/vol/vol1/lun1` when the same path exists in several SVMs.
 * - Never rejects: one reading per configured LUN, in configured order.
 * - The password is only ever put in the Authorization header: it is never part of an
 *   error message (and is masked should the filer echo it back).
 *
 * Modules: http (the call's context, limits, one HTTP exchange, error messages), rest (the
 * REST reader), zapi (the ZAPI reader), and this file (LUN matching, the public
 * readNetappLuns).
 */
import { Agent } from 'undici'
import { isIPv6 } from 'node:net'
import type { DiskInfo } from '../../schemas/status.ts'
import { ABORTED, diskFigures, type DiskReading } from '../disk-reading.ts'
import { redactCredentials, type Credentials } from '../redact.ts'
import { describeTransportError, NetappError, type Ctx, type LunRecord } from './http.ts'
import { fetchRest } from './rest.ts'
import { fetchZapi } from './zapi.ts'

export { PAGE_SIZE, MAX_PAGES } from './http.ts'

export interface NetappTarget {
  host: string
  port?: number // default 443
  apiType: 'rest' | 'zapi'
  username: string
  password: string
  luns: Array<{ name: string, path: string }>
  verifyTls: boolean
  timeoutMs: number
  /** Aborts the call: the request stops at once, every LUN reads `{ok: false, error: 'aborted'}`. */
  signal?: AbortSignal
}

function hostForUrl (host: string): string {
  return isIPv6(host) ? `[${host}]` : host
}

/** `svm1:/vol/a/l1` → {svm: 'svm1', path: '/vol/a/l1'}; `/vol/a/l1` → {path}. */
export function parseLunPath (configured: string): { svm?: string, path: string } {
  const trimmed = configured.trim()
  if (trimmed.startsWith('/')) return { path: trimmed }
  const colon = trimmed.indexOf(':/')
  if (colon > 0) return { svm: trimmed.slice(0, colon), path: trimmed.slice(colon + 1) }
  return { path: trimmed }
}

function lunReading (lun: { name: string, path: string }, records: LunRecord[], where: string): DiskReading {
  const { svm, path } = parseLunPath(lun.path)
  const fail = (error: string): DiskReading => ({ ok: false, name: lun.name, error })
  const matches = records.filter(r => r.path === path && (svm === undefined || r.svm === svm))
  if (matches.length === 0) {
    return fail(`LUN ${path} not found on NetApp ${where}${svm !== undefined ? ` in SVM ${svm}` : ''}`)
  }
  if (matches.length > 1) {
    const svms = matches.map(m => m.svm ?? '?').join(', ')
    return fail(`LUN path ${path} exists in several SVMs on NetApp ${where} (${svms}): configure it as "<svm>:${path}"`)
  }
  const m = matches[0]!
  if (m.size === undefined || m.used === undefined) {
    return fail(`NetApp ${where} did not report the size and used space of LUN ${path}`)
  }
  const disk: DiskInfo = { ...diskFigures(m.size, m.used), name: lun.name, description: lun.path, source: 'netapp' }
  return { ok: true, disk }
}

/**
 * Read the space of the configured LUNs of one filer. Never rejects: every configured
 * LUN gets one entry, in configured order.
 */
export async function readNetappLuns (target: NetappTarget): Promise<DiskReading[]> {
  const luns = target.luns
  if (luns.length === 0) return []
  const port = target.port ?? 443
  const where = `${hostForUrl(target.host)}:${port}`
  const password = target.password ?? ''
  const credentials: Credentials = { username: target.username, secret: password }
  const mask = (s: string): string => redactCredentials(s, credentials)
  const failAll = (error: string): DiskReading[] => luns.map(l => ({ ok: false, name: l.name, error: mask(error) }))
  // Not masked: a password that happens to be part of the word must not garble it.
  const abortedAll = (): DiskReading[] => luns.map(l => ({ ok: false, name: l.name, error: ABORTED }))

  const timeoutMs = Math.floor(target.timeoutMs)
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1) return failAll(`invalid NetApp timeout ${String(target.timeoutMs)} ms`)
  if (!Number.isInteger(port) || port < 1 || port > 65535) return failAll(`invalid NetApp port ${String(port)}`)
  if (typeof target.host !== 'string' || target.host === '') return failAll('no NetApp host configured')
  if (target.apiType !== 'rest' && target.apiType !== 'zapi') return failAll(`unknown NetApp apiType ${String(target.apiType)}`)
  const caller = target.signal
  // A function, not a narrowed property: the signal may abort at any await.
  const aborted = (): boolean => caller?.aborted === true
  if (aborted()) return abortedAll()

  // The deadline and the caller's signal in one signal for undici. Not AbortSignal.any():
  // on Node 20 each call would leave an entry behind in a long-lived caller signal.
  const stop = new AbortController()

  const dispatcher = new Agent({
    connect: { rejectUnauthorized: target.verifyTls, timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connections: 1,
    keepAliveTimeout: 1000
  })
  const wantedPaths = [...new Set(luns.map(l => parseLunPath(l.path).path))]
  const ctx: Ctx = {
    origin: `https://${where}`,
    where,
    auth: 'Basic ' + Buffer.from(`${target.username}:${password}`, 'utf8').toString('base64'),
    username: target.username,
    credentials,
    timeoutMs,
    verifyTls: target.verifyTls,
    dispatcher,
    signal: stop.signal,
    caller,
    wanted: new Set(wantedPaths)
  }
  const deadline = setTimeout(() => {
    stop.abort(new DOMException(`NetApp request timed out after ${timeoutMs} ms`, 'TimeoutError'))
  }, timeoutMs)
  const onAbort = (): void => { stop.abort(caller?.reason) }
  caller?.addEventListener('abort', onAbort, { once: true })
  try {
    const records = target.apiType === 'rest' ? await fetchRest(ctx, wantedPaths) : await fetchZapi(ctx)
    if (aborted()) return abortedAll()
    return luns.map(l => {
      const r = lunReading(l, records, where)
      return r.ok ? r : { ...r, error: mask(r.error) }
    })
  } catch (err) {
    if (aborted()) return abortedAll()
    return failAll(err instanceof NetappError ? err.message : describeTransportError(err, ctx, target.apiType === 'rest' ? 'REST API' : 'ZAPI'))
  } finally {
    clearTimeout(deadline)
    caller?.removeEventListener('abort', onAbort)
    await dispatcher.destroy().catch(() => {})
  }
}
