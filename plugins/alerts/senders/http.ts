import { Agent, errors, request } from 'undici'
import { shortReason } from '../../../probes/redact.ts'
import type { AttemptOutcome } from '../types.ts'

/** How long a receiver may take: to accept the connection, to answer, between parts of its answer. */
export interface DeliveryTimeouts {
  connectMs: number
  /** Until the answer's status and headers (SMTP: the greeting). */
  headersMs: number
  /** Between two chunks of the answer (SMTP: any silence). */
  bodyMs: number
}
export const DEFAULT_TIMEOUTS: DeliveryTimeouts = { connectMs: 10_000, headersMs: 15_000, bodyMs: 15_000 }

/** The longest one attempt may take in all (40 s by default): a receiver trickling its answer must not hold its channel. */
export const attemptTimeoutMs = (timeouts: DeliveryTimeouts) => timeouts.connectMs + timeouts.headersMs + timeouts.bodyMs

/** Of a receiver's answer only its beginning is read, for the reason of a failure. */
const ANSWER_READ = 1024
/** The reason taken from an answer (HTTP or SMTP): short, it lands in the log and the alert log. */
export const REASON_LENGTH = 100
/** Client errors that say "not now" rather than "never": retried like any failure. */
const TRANSIENT_CLIENT_ERRORS = new Set([408, 425, 429])
/** Answers whose `Retry-After` says when to try again. */
const RETRY_AFTER_STATUSES = new Set([429, 503])

const NETWORK_REASONS: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'answer stalled',
  UND_ERR_SOCKET: 'connection closed',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable'
}

/** A failure that never threw from the receiver's side: a code and a few words, redacted. */
export function describeError (err: unknown, redact: (text: string) => string): string {
  const { code, name, message } = err as { code?: string, name?: string, message?: string }
  if (code !== undefined && NETWORK_REASONS[code] !== undefined) return `${code}: ${NETWORK_REASONS[code]}`
  if (name === 'AbortError' || name === 'TimeoutError' || err instanceof errors.RequestAbortedError) return 'aborted: took too long'
  return shortReason(redact(`${code ?? name ?? 'Error'}: ${message ?? String(err)}`), REASON_LENGTH)
}

async function readHead (body: AsyncIterable<Buffer>): Promise<string> {
  let text = ''
  // Leaving the loop early destroys the stream: a receiver's endless answer is not read.
  for await (const chunk of body) {
    text += chunk.toString('utf8')
    if (text.length >= ANSWER_READ) break
  }
  return text.slice(0, ANSWER_READ)
}

/** `Retry-After` in ms from `now`: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMs (header: string | string[] | undefined, now: number): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim()
  if (value === undefined || value === '') return undefined
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

export interface HttpPoster {
  /** POSTs a JSON body; resolves with the outcome, never rejects. */
  post (url: string, body: string, headers: Record<string, string>, redact: (text: string) => string, signal: AbortSignal): Promise<AttemptOutcome>
  close (): Promise<void>
}

/** One undici agent for every HTTP channel, with the timeouts on connect, headers and body. */
export function createHttpPoster (timeouts: DeliveryTimeouts): HttpPoster {
  const agent = new Agent({
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.bodyMs
  })
  const overallMs = attemptTimeoutMs(timeouts)

  return {
    async post (url, body, headers, redact, signal) {
      const started = performance.now()
      const elapsed = () => Math.round(performance.now() - started)
      try {
        const response = await request(url, {
          method: 'POST',
          body,
          headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
          dispatcher: agent,
          signal: AbortSignal.any([signal, AbortSignal.timeout(overallMs)])
        })
        const status = response.statusCode
        if (status >= 200 && status < 300) {
          // Delivered once the status says so: the answer's body is thrown away, not waited
          // for, so a slow one cannot turn a delivery into a resend (the timeout still ends it).
          response.body.dump({ limit: ANSWER_READ }).catch(() => {})
          return { delivered: true, status, durationMs: elapsed() }
        }
        const answer = await readHead(response.body)
        const reason = shortReason(redact(answer), REASON_LENGTH)
        const waitMs = RETRY_AFTER_STATUSES.has(status) ? retryAfterMs(response.headers['retry-after'], Date.now()) : undefined
        return {
          delivered: false,
          status,
          error: reason === '' ? `HTTP ${status}` : `HTTP ${status}: ${reason}`,
          durationMs: elapsed(),
          ...(status >= 400 && status < 500 && !TRANSIENT_CLIENT_ERRORS.has(status) ? { permanent: true } : {}),
          ...(waitMs === undefined ? {} : { retryAfterMs: waitMs })
        }
      } catch (err) {
        return { delivered: false, error: describeError(err, redact), durationMs: elapsed() }
      }
    },
    close: () => agent.close()
  }
}
