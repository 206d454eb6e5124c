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
 */
import { Agent, request, type Dispatcher } from 'undici'
import { XMLBuilder, XMLParser } from 'fast-xml-parser'
import { isIPv6 } from 'node:net'
import type { DiskInfo } from '../schemas/status.ts'
import { ABORTED, diskFigures, type DiskReading } from './disk-reading.ts'
import { redactCredentials, shortReason, type Credentials } from './redact.ts'

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

/** Records asked for per page (REST max_records / ZAPI max-records). */
export const PAGE_SIZE = 1000
/** Pages followed at most in one call (a filer that keeps answering `next` is cut off). */
export const MAX_PAGES = 500
/** Largest response body accepted (one page of 1,000 LUN records is ~300 KB). */
const MAX_BODY_BYTES = 16 * 1024 * 1024
const ZAPI_PATH = '/servlets/netapp.servlets.admin.XMLrequest_filer'
const REST_FIELDS = 'name,svm.name,space.size,space.used'
/** LUN paths made only of these characters can be sent as a server-side `name=` filter. */
const SAFE_PATH_CHARS = new Set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-.')

/** TLS verification failures as reported by Node's `tls` module. */
const TLS_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH', 'CERT_REVOKED', 'INVALID_PURPOSE'
])
const TIMEOUT_ERROR_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])

/** A failure of the whole call (every LUN gets its message). */
class NetappError extends Error {}

interface LunRecord { path: string, svm?: string, size?: number, used?: number }

interface Ctx {
  origin: string // https://host:port
  where: string // host:port
  auth: string
  username: string
  /** Removed from every text of the filer that goes into an error. */
  credentials: Credentials
  timeoutMs: number
  verifyTls: boolean
  dispatcher: Dispatcher
  /** Aborted by the deadline or by the caller's signal. */
  signal: AbortSignal
  /** The caller's signal: its abort is reported as 'aborted', not as a time-out. */
  caller?: AbortSignal
  wanted: Set<string> // LUN paths we need
}

// ---------------------------------------------------------------------------

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

function errorChain (err: unknown): Array<Error & { code?: string }> {
  const out: Array<Error & { code?: string }> = []
  let e: unknown = err
  for (let i = 0; i < 5 && e instanceof Error; i++) {
    out.push(e as Error & { code?: string })
    e = (e as Error & { cause?: unknown }).cause
  }
  return out
}

function describeTransportError (err: unknown, ctx: Ctx, api: string): string {
  if (ctx.caller?.aborted === true) return ABORTED
  const chain = errorChain(err)
  const timedOut = ctx.signal.aborted ||
    chain.some(e => e.name === 'TimeoutError' || (e.code !== undefined && TIMEOUT_ERROR_CODES.has(e.code)))
  if (timedOut) return `NetApp ${api} request to ${ctx.where} timed out after ${ctx.timeoutMs} ms`
  const tls = chain.find(e => e.code !== undefined && TLS_ERROR_CODES.has(e.code))
  if (tls !== undefined) {
    return `NetApp TLS certificate verification failed for ${ctx.where}: ${tls.message} (${String(tls.code)}). ` +
      'The filer\'s certificate is not trusted (filers use self-signed certificates by default): ' +
      'install a certificate this server trusts, or set verifyTls: false for this server'
  }
  const first = chain[0]
  const code = chain.find(e => e.code !== undefined)?.code
  if (code === 'ECONNREFUSED') return `NetApp ${api} connection to ${ctx.where} refused`
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `NetApp host name could not be resolved: ${ctx.where} (${code})`
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return `NetApp ${api} connection to ${ctx.where} was closed by the filer before it answered`
  if (code !== undefined && code.startsWith('ERR_SSL')) return `NetApp TLS handshake with ${ctx.where} failed: ${first?.message ?? code}`
  return `NetApp ${api} request to ${ctx.where} failed: ${first?.message ?? String(err)}`
}

async function readBody (body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const buf = chunk as Buffer
    size += buf.length
    if (size > MAX_BODY_BYTES) {
      body.destroy()
      throw new NetappError(`response larger than ${MAX_BODY_BYTES} bytes`)
    }
    chunks.push(buf)
  }
  return Buffer.concat(chunks).toString('utf8')
}

interface HttpResult { status: number, text: string, contentType: string }

async function send (ctx: Ctx, api: string, path: string, init: { method: 'GET' | 'POST', headers: Record<string, string>, body?: string }): Promise<HttpResult> {
  try {
    const res = await request(ctx.origin + path, {
      method: init.method,
      headers: { ...init.headers, authorization: ctx.auth },
      body: init.body,
      dispatcher: ctx.dispatcher,
      signal: ctx.signal,
      headersTimeout: ctx.timeoutMs,
      bodyTimeout: ctx.timeoutMs
    })
    const ct = res.headers['content-type']
    const contentType = (Array.isArray(ct) ? ct[0] : ct) ?? ''
    const text = await readBody(res.body)
    return { status: res.statusCode, text, contentType }
  } catch (err) {
    if (err instanceof NetappError) throw new NetappError(`NetApp ${api} at ${ctx.where}: ${err.message}`)
    throw new NetappError(describeTransportError(err, ctx, api))
  }
}

/** The filer's own words for an error message: credentials removed, then cut short. */
function reason (ctx: Ctx, text: string): string {
  return shortReason(redactCredentials(text, ctx.credentials))
}

/** ONTAP's REST error body: {"error": {"message", "code", "target"?}}. */
function ontapRestError (text: string): string | undefined {
  try {
    const doc = JSON.parse(text) as { error?: { message?: unknown, code?: unknown, target?: unknown } }
    const e = doc?.error
    if (e === undefined || e === null || typeof e.message !== 'string') return undefined
    let msg = e.message
    if (e.code !== undefined) msg += ` (code ${String(e.code)}${typeof e.target === 'string' ? `, target ${e.target}` : ''})`
    return msg
  } catch {
    return undefined
  }
}

function httpStatusError (ctx: Ctx, api: string, res: HttpResult): NetappError {
  const detail = ontapRestError(res.text) ?? (res.contentType.includes('html') ? undefined : (res.text.trim() || undefined))
  const suffix = detail !== undefined ? `: ${reason(ctx, detail)}` : ''
  if (res.status === 401) {
    return new NetappError(`NetApp authentication failed (HTTP 401) for user ${ctx.username} at ${ctx.where}${suffix}`)
  }
  if (res.status === 403) {
    return new NetappError(`NetApp authorization failed (HTTP 403): user ${ctx.username} may not read LUNs at ${ctx.where}${suffix}`)
  }
  if (api === 'ZAPI' && res.status === 404) {
    return new NetappError(`NetApp ZAPI not available at ${ctx.where} (HTTP 404; ZAPI is retired from ONTAP 9.13.1 on: use apiType "rest")${suffix}`)
  }
  return new NetappError(`NetApp ${api} at ${ctx.where} answered HTTP ${res.status}${suffix}`)
}

function toBytes (value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined
}

// ---------------------------------------------------------------------------
// REST

async function fetchRest (ctx: Ctx, wantedPaths: string[]): Promise<LunRecord[]> {
  const params = new URLSearchParams({ fields: REST_FIELDS, max_records: String(PAGE_SIZE) })
  // Server-side filter (`name=/vol/a/l1|/vol/b/l2`) when every path is plain, so a filer
  // with thousands of LUNs sends only ours; matching is still done here.
  if (wantedPaths.every(p => [...p].every(c => SAFE_PATH_CHARS.has(c)))) params.set('name', wantedPaths.join('|'))
  let path: string | undefined = `/api/storage/luns?${params.toString()}`
  const seen = new Set<string>()
  const out: LunRecord[] = []
  for (let page = 0; path !== undefined; page++) {
    if (page >= MAX_PAGES) throw new NetappError(`NetApp REST API at ${ctx.where}: more than ${MAX_PAGES} pages of LUNs; giving up`)
    if (seen.has(path)) throw new NetappError(`NetApp REST API at ${ctx.where}: pagination loop (next link ${path} repeated)`)
    seen.add(path)
    const res = await send(ctx, 'REST API', path, { method: 'GET', headers: { accept: 'application/json' } })
    if (res.status !== 200) throw httpStatusError(ctx, 'REST API', res)
    let doc: { records?: unknown, _links?: { next?: { href?: unknown } } }
    try {
      doc = JSON.parse(res.text)
    } catch {
      throw new NetappError(`NetApp REST API at ${ctx.where}: response is not JSON (${reason(ctx, res.text)})`)
    }
    if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.records)) {
      throw new NetappError(`NetApp REST API at ${ctx.where}: unexpected response (no records array)`)
    }
    for (const r of doc.records as Array<Record<string, unknown>>) {
      if (r === null || typeof r !== 'object' || typeof r.name !== 'string' || !ctx.wanted.has(r.name)) continue
      const space = (r.space ?? {}) as Record<string, unknown>
      const svm = (r.svm ?? {}) as Record<string, unknown>
      out.push({
        path: r.name,
        svm: typeof svm.name === 'string' ? svm.name : undefined,
        size: toBytes(space.size),
        used: toBytes(space.used)
      })
    }
    const href = doc._links?.next?.href
    path = typeof href === 'string' && href !== '' ? sameOriginPath(ctx, href) : undefined
  }
  return out
}

/** A `next` link as a path on the same filer; never follow (and send credentials) elsewhere. */
function sameOriginPath (ctx: Ctx, href: string): string {
  let url: URL
  try {
    url = new URL(href, ctx.origin)
  } catch {
    throw new NetappError(`NetApp REST API at ${ctx.where}: invalid next link ${reason(ctx, href)}`)
  }
  if (url.origin !== new URL(ctx.origin).origin || !url.pathname.startsWith('/api/')) {
    throw new NetappError(`NetApp REST API at ${ctx.where}: next link points elsewhere (${reason(ctx, href)}); not followed`)
  }
  return url.pathname + url.search
}

// ---------------------------------------------------------------------------
// ZAPI

const zapiBuilder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: true })
const zapiParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (_name, jpath) => jpath === 'netapp.results.attributes-list.lun-info'
})

function zapiRequest (tag: string | undefined): string {
  const iter: Record<string, unknown> = {
    'max-records': PAGE_SIZE,
    'desired-attributes': { 'lun-info': { path: '', size: '', 'size-used': '', vserver: '' } }
  }
  if (tag !== undefined) iter.tag = tag
  return '<?xml version="1.0" encoding="UTF-8"?>' + zapiBuilder.build({
    netapp: { '@_version': '1.21', '@_xmlns': 'http://www.netapp.com/filer/admin', 'lun-get-iter': iter }
  }) as string
}

function text (v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (typeof v === 'number') return String(v)
  if (v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>)['#text'] === 'string') return (v as Record<string, string>)['#text']
  return undefined
}

async function fetchZapi (ctx: Ctx): Promise<LunRecord[]> {
  const out: LunRecord[] = []
  const seen = new Set<string>()
  let tag: string | undefined
  for (let page = 0; ; page++) {
    if (page >= MAX_PAGES) throw new NetappError(`NetApp ZAPI at ${ctx.where}: more than ${MAX_PAGES} pages of LUNs; giving up`)
    const res = await send(ctx, 'ZAPI', ZAPI_PATH, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', accept: 'text/xml' },
      body: zapiRequest(tag)
    })
    if (res.status !== 200) throw httpStatusError(ctx, 'ZAPI', res)
    let doc: Record<string, unknown>
    try {
      doc = zapiParser.parse(res.text) as Record<string, unknown>
    } catch (err) {
      throw new NetappError(`NetApp ZAPI at ${ctx.where}: response is not valid XML (${(err as Error).message})`)
    }
    const netapp = doc.netapp as Record<string, unknown> | undefined
    const results = (netapp !== null && typeof netapp === 'object') ? netapp.results as Record<string, unknown> | undefined : undefined
    if (results === undefined || results === null || typeof results !== 'object') {
      throw new NetappError(`NetApp ZAPI at ${ctx.where}: unexpected response (no <results>): ${reason(ctx, res.text)}`)
    }
    const status = results['@_status']
    if (status !== 'passed') {
      const why = typeof results['@_reason'] === 'string' ? reason(ctx, results['@_reason']) : 'no reason given'
      const errno = typeof results['@_errno'] === 'string' ? ` (errno ${reason(ctx, results['@_errno'])})` : ''
      throw new NetappError(`NetApp ZAPI lun-get-iter ${status === 'failed' ? 'failed' : `returned status "${reason(ctx, String(status))}"`} at ${ctx.where}: ${why}${errno}`)
    }
    const list = results['attributes-list'] as Record<string, unknown> | undefined
    const infos = (list !== null && typeof list === 'object' && Array.isArray(list['lun-info'])) ? list['lun-info'] as Array<Record<string, unknown>> : []
    for (const info of infos) {
      const path = text(info?.path)
      if (path === undefined || !ctx.wanted.has(path)) continue
      out.push({ path, svm: text(info.vserver), size: toBytes(text(info.size)), used: toBytes(text(info['size-used'])) })
    }
    const next = text(results['next-tag'])
    if (next === undefined || next === '') return out
    if (seen.has(next)) throw new NetappError(`NetApp ZAPI at ${ctx.where}: pagination loop (next-tag repeated)`)
    seen.add(next)
    tag = next
  }
}

// ---------------------------------------------------------------------------

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
