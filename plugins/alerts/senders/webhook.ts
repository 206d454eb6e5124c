import { createHmac } from 'node:crypto'
import type { WebhookChannel } from '../../../schemas/alerts.ts'

/** `t=<unix seconds>,sha256=<hex HMAC-SHA256 of "<t>.<body>">` (SPEC §10). */
export function signature (secret: string, unixSeconds: number, body: string): string {
  return `t=${unixSeconds},sha256=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`
}

/**
 * The headers of a webhook delivery; the body is the alert's JSON as stored. The channel's
 * own headers come first, so they can add (say `Authorization`) but never replace ours.
 */
export function webhookHeaders (channel: WebhookChannel, key: string, body: string, now: number): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(channel.headers ?? {})) headers[name.toLowerCase()] = value
  headers['x-estatus-delivery'] = key
  if (channel.secret !== undefined) headers['x-estatus-signature'] = signature(channel.secret, Math.floor(now / 1000), body)
  return headers
}
