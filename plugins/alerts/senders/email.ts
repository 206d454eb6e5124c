import { createTransport } from 'nodemailer'
import { shortReason } from '../../../probes/redact.ts'
import type { Alert, EmailChannel } from '../../../schemas/alerts.ts'
import type { DeliveryOutcome } from '../types.ts'
import { alertText, alertTitle } from '../render.ts'
import type { DeliveryTimeouts } from './http.ts'

const REASON_LENGTH = 100

/** The leading reply code of an SMTP answer such as "250 2.0.0 Ok: queued". */
const replyCode = (response: string | undefined) => {
  const code = Number(response?.slice(0, 3))
  return Number.isInteger(code) && code >= 200 ? code : undefined
}

/**
 * One message over SMTP with nodemailer, a connection of its own (alerts are rare; a pool
 * would hold connections open for nothing). The delivery key is the Message-ID's local part
 * and an `X-Estatus-Delivery` header, so a receiver can drop a repeat.
 */
export async function sendEmail (channel: EmailChannel, alert: Alert, key: string, timeouts: DeliveryTimeouts,
  redact: (text: string) => string, signal: AbortSignal): Promise<DeliveryOutcome> {
  const started = performance.now()
  const elapsed = () => Math.round(performance.now() - started)
  const transport = createTransport({
    host: channel.host,
    port: channel.port,
    secure: channel.secure,
    ...(channel.username === undefined || channel.username === '' ? {} : { auth: { user: channel.username, pass: channel.password ?? '' } }),
    connectionTimeout: timeouts.connectMs,
    greetingTimeout: timeouts.headersMs,
    socketTimeout: timeouts.bodyMs,
    dnsTimeout: timeouts.connectMs
  })
  const abort = () => transport.close()
  signal.addEventListener('abort', abort, { once: true })
  try {
    const info = await transport.sendMail({
      from: channel.from,
      to: channel.to,
      subject: `[estatus] ${alertTitle(alert)}`,
      text: alertText(alert),
      messageId: `<${key}@${channel.from.split('@').at(-1)}>`,
      headers: { 'X-Estatus-Delivery': key },
      disableFileAccess: true,
      disableUrlAccess: true
    })
    return { delivered: true, ...optionalStatus(replyCode(info.response)), durationMs: elapsed() }
  } catch (err) {
    const { code, responseCode, response, message } = err as { code?: string, responseCode?: number, response?: string, message?: string }
    const said = responseCode === undefined ? `${code ?? 'Error'}: ${message ?? ''}` : `SMTP ${responseCode}: ${response ?? message ?? ''}`
    return { delivered: false, ...optionalStatus(responseCode), error: shortReason(redact(said), REASON_LENGTH), durationMs: elapsed() }
  } finally {
    signal.removeEventListener('abort', abort)
    transport.close()
  }
}

const optionalStatus = (status: number | undefined) => (status === undefined ? {} : { status })
