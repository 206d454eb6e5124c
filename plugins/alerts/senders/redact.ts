import { redactCredentials, type Credentials } from '../../../probes/redact.ts'
import type { Channel } from '../../../schemas/alerts.ts'

/**
 * Every secret a channel holds, for removing from what a receiver answers: the webhook
 * secret, the SMTP password, header values, and the URL (a Slack or Teams URL is itself the
 * credential: its path and query carry the token).
 */
function secretsOf (channel: Channel): Credentials[] {
  if (channel.type === 'email') return channel.password === undefined ? [] : [{ username: channel.username, secret: channel.password }]
  const secrets: Credentials[] = [{ secret: channel.url }]
  const url = URL.canParse(channel.url) ? new URL(channel.url) : undefined
  if (url !== undefined) {
    secrets.push({ secret: url.pathname + url.search }, { secret: url.search.slice(1) })
    if (url.password !== '') secrets.push({ username: decodeURIComponent(url.username), secret: decodeURIComponent(url.password) })
  }
  if (channel.type === 'webhook') {
    if (channel.secret !== undefined) secrets.push({ secret: channel.secret })
    for (const value of Object.values(channel.headers ?? {})) secrets.push({ secret: value })
  }
  return secrets
}

/** A function that removes every form of the channel's secrets from a text (probes/redact.ts). */
export function channelRedactor (channel: Channel): (text: string) => string {
  const secrets = secretsOf(channel)
  return text => secrets.reduce((out, credentials) => redactCredentials(out, credentials), text)
}
