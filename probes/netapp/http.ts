/**
 * What the REST and ZAPI readers share: the call's context, the limits, one HTTP exchange
 * (`send`), and the error messages for transport failures and HTTP statuses.
 */
import { request, type Dispatcher } from 'undici'
import { ABORTED } from '../disk-reading.ts'
import { redactCredentials, shortReason, type Credentials } from '../redact.ts'

/** Records asked for per page (REST max_records / ZAPI max-records). */
export const PAGE_SIZE = 1000
/** Pages followed at most in one call (a filer that keeps answering `next` is cut off). */
export const MAX_PAGES = 500
/** Largest response body accepted (one page of 1,000 LUN records is ~300 KB). */
const MAX_BODY_BYTES = 16 * 1024 * 1024

/** TLS verification failures as reported by Node's `tls` module. */
const TLS_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH', 'CERT_REVOKED', 'INVALID_PURPOSE'
])
const TIMEOUT_ERROR_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])

/** A failure of the whole call (every LUN gets its message). */
export class NetappError extends Error {}

export interface LunRecord { path: string, svm?: string, size?: number, used?: number }

export interface Ctx {
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

function errorChain (err: unknown): Array<Error & { code?: string }> {
  const out: Array<Error & { code?: string }> = []
  let e: unknown = err
  for (let i = 0; i < 5 && e instanceof Error; i++) {
    out.push(e as Error & { code?: string })
    e = (e as Error & { cause?: unknown }).cause
  }
  return out
}

export function describeTransportError (err: unknown, ctx: Ctx, api: string): string {
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

export async function send (ctx: Ctx, api: string, path: string, init: { method: 'GET' | 'POST', headers: Record<string, string>, body?: string }): Promise<HttpResult> {
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
export function reason (ctx: Ctx, text: string): string {
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

export function httpStatusError (ctx: Ctx, api: string, res: HttpResult): NetappError {
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

export function toBytes (value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined
}
