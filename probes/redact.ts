/**
 * Error texts that leave a probe reach every dashboard (diskUpdate.error, the replay
 * buffer): what a filer or agent answered is cut to a short reason and every form of the
 * credentials it may echo is removed.
 */
import { SECRET_MASK } from '../schemas/common.ts'

export interface Credentials {
  username?: string | undefined
  /** NetApp password or SNMP community. */
  secret?: string | undefined
}

/** Shorter secrets are not searched for: they would garble ordinary words. */
const MIN_SECRET_LENGTH = 3
/** Any Basic credentials, whoever's: the header value a filer may echo. */
const BASIC_AUTH_RE = /\bBasic\s+[A-Za-z0-9+/_-]{8,}={0,2}/gi
/** The longest reason taken from a filer's or agent's own text. */
export const MAX_REASON_LENGTH = 160

const base64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')
const base64url = (s: string): string => Buffer.from(s, 'utf8').toString('base64url')
const lowerHex = (s: string): string => s.replace(/%[0-9A-F]{2}/g, h => h.toLowerCase())
const htmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')

/** Every way a secret may come back: plain, URL-encoded (both hex cases, form style), JSON/HTML-escaped, Base64. */
function forms ({ username, secret }: Credentials): string[] {
  if (secret === undefined || secret.length < MIN_SECRET_LENGTH) return []
  const uri = encodeURIComponent(secret)
  const form = new URLSearchParams({ s: secret }).toString().slice(2)
  const out = [secret, uri, lowerHex(uri), form, lowerHex(form), encodeURI(secret), JSON.stringify(secret).slice(1, -1), htmlEscape(secret)]
  for (const encoded of [base64(secret), base64url(secret)]) out.push(encoded, encoded.replace(/=+$/, ''))
  if (username !== undefined) {
    const pair = `${username}:${secret}`
    for (const encoded of [base64(pair), base64url(pair)]) out.push(encoded, encoded.replace(/=+$/, ''))
  }
  // Longest first, so a form that contains another is removed whole.
  return [...new Set(out)].filter(f => f.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length)
}

/** Longer texts are only looked at up to here (less the tail, where a secret may be cut in half). */
const SCAN_LIMIT = 65536
const SCAN_TAIL = 1024

/** The text without any form of the credentials and without any Basic header value. */
export function redactCredentials (text: string, credentials: Credentials): string {
  const head = text.length > SCAN_LIMIT ? text.slice(0, SCAN_LIMIT - SCAN_TAIL) : text
  let out = head.replace(BASIC_AUTH_RE, `Basic ${SECRET_MASK}`)
  for (const form of forms(credentials)) out = out.split(form).join(SECRET_MASK)
  return out
}

/** A remote party's own words (already redacted), whitespace collapsed and cut to `max` characters. */
export function shortReason (text: string, max = MAX_REASON_LENGTH): string {
  const s = text.replace(/\s+/g, ' ').trim()
  return s.length > max ? s.slice(0, max - 1) + '…' : s
}
