import { createTransport } from 'nodemailer'
import { shortReason } from '../../../probes/redact.ts'
import type { Alert, EmailChannel } from '../../../schemas/alerts.ts'
import type { AttemptOutcome } from '../types.ts'
import { alertText, alertTitle } from '../render.ts'
import { REASON_LENGTH, attemptTimeoutMs, type DeliveryTimeouts } from './http.ts'

/** The leading reply code of an SMTP answer such as "250 2.0.0 Ok: queued". */
const replyCode = (response: string | undefined) => {
  const code = Number(response?.slice(0, 3))
  return Number.isInteger(code) && code >= 200 ? code : undefined
}

/**
 * One message over SMTP with nodemailer, a connection of its own (alerts are rare; a pool
 * would hold connections open for nothing). The delivery key is the Message-ID's local part
 * and an `X-Estatus-Delivery` header, so a receiver can drop a repeat. With a username and
 * without `secure`, STARTTLS is required: the password never crosses the network in clear.
 * The attempt is cut after the same time in all as an HTTP one (a server trickling its
 * replies passes every per-step timeout).
 */
export async function sendEmail (channel: EmailChannel, alert: Alert, key: string, timeouts: DeliveryTimeouts,
  redact: (text: string) => string, signal: AbortSignal): Promise<AttemptOutcome> {
  const started = performance.now()
  const elapsed = () => Math.round(performance.now() - started)
  const loggingIn = channel.username !== undefined && channel.username !== ''
  const transport = createTransport({
    host: channel.host,
    port: channel.port,
    secure: channel.secure,
    ...(loggingIn ? { auth: { user: channel.username!, pass: channel.password ?? '' }, requireTLS: !channel.secure } : {}),
    connectionTimeout: timeouts.connectMs,
    greetingTimeout: timeouts.headersMs,
    socketTimeout: timeouts.bodyMs,
    dnsTimeout: timeouts.connectMs
  })
  try {
    const info = await transport.sendMail({
      from: channel.from,
      to: channel.to,
      subject: `[estatus] ${alertTitle(alert)}`,
      text: alertText(alert),
      messageId: `<${key}@${channel.from.split('@').at(-1)}>`,
      headers: { 'X-Estatus-Delivery': key },
      disableFileAccess: true,
      disableUrlAccess: true,
      signal: AbortSignal.any([signal, AbortSignal.timeout(attemptTimeoutMs(timeouts))])
    })
    return { delivered: true, ...optionalStatus(replyCode(info.response)), durationMs: elapsed() }
  } catch (err) {
    const { code, responseCode, response, message } = err as { code?: string, responseCode?: number, response?: string, message?: string }
    const said = responseCode === undefined ? `${code ?? 'Error'}: ${message ?? ''}` : `SMTP ${responseCode}: ${response ?? message ?? ''}`
    return { delivered: false, ...optionalStatus(responseCode), error: shortReason(redact(said), REASON_LENGTH), durationMs: elapsed() }
  } finally {
    transport.close()
  }
}

const optionalStatus = (status: number | undefined) => (status === undefined ? {} : { status })
