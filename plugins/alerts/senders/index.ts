import type { Alert, Channel } from '../../../schemas/alerts.ts'
import type { AttemptOutcome } from '../types.ts'
import { sendEmail } from './email.ts'
import { createHttpPoster, type DeliveryTimeouts } from './http.ts'
import { channelRedactor } from './redact.ts'
import { slackPayload } from './slack.ts'
import { teamsPayload } from './teams.ts'
import { webhookHeaders } from './webhook.ts'

export interface Message {
  /** The idempotency key: the same on every attempt. */
  key: string
  alert: Alert
  /** The alert's JSON as stored (a webhook's body). */
  body: string
}

export interface Senders {
  /** One attempt; resolves with the outcome (errors redacted of the channel's secrets), never rejects. */
  send (channel: Channel, message: Message, signal: AbortSignal): Promise<AttemptOutcome>
  close (): Promise<void>
}

export function createSenders (timeouts: DeliveryTimeouts): Senders {
  const http = createHttpPoster(timeouts)
  return {
    async send (channel, { key, alert, body }, signal) {
      const redact = channelRedactor(channel)
      // Every HTTP channel names the delivery; only a webhook is signed and carries the alert as it is.
      const delivery = { 'x-estatus-delivery': key }
      switch (channel.type) {
        case 'webhook': return await http.post(channel.url, body, webhookHeaders(channel, key, body, Date.now()), redact, signal)
        case 'slack': return await http.post(channel.url, JSON.stringify(slackPayload(alert)), delivery, redact, signal)
        case 'teams': return await http.post(channel.url, JSON.stringify(teamsPayload(alert)), delivery, redact, signal)
        case 'email': return await sendEmail(channel, alert, key, timeouts, redact, signal)
      }
    },
    close: () => http.close()
  }
}
