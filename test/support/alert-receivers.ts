/**
 * Receivers of alert deliveries on 127.0.0.1: an HTTP server standing in for a webhook
 * endpoint, Slack or Teams (it records each request and answers as the test says), and a
 * real SMTP server (smtp-server) that records each message. Both close in the teardown.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import type { Test } from './app.ts'

export interface ReceivedRequest {
  at: number
  path: string
  headers: IncomingHttpHeaders
  body: string
  json: any
}

/**
 * How to answer the n-th request (from 0): a status, `hang` (never answer), `slow-body` (200
 * and its headers at once, then a body that never ends), or a status with a body and headers.
 */
export type Answer = number | 'hang' | 'slow-body' | { status: number, body: string, headers?: Record<string, string> }

export interface HttpReceiver {
  url: string
  requests: ReceivedRequest[]
}

export async function startHttpReceiver (t: Test, answer: (request: ReceivedRequest, n: number) => Answer = () => 200): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = []
  const hanging = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', chunk => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      let json: unknown
      try { json = JSON.parse(body) } catch { json = undefined }
      const request: ReceivedRequest = { at: Date.now(), path: req.url ?? '', headers: req.headers, body, json }
      const reply = answer(request, requests.length)
      requests.push(request)
      if (reply === 'hang' || reply === 'slow-body') {
        if (reply === 'slow-body') res.writeHead(200, { 'content-type': 'text/plain' }).write('o')
        hanging.add(res)
        return
      }
      const { status, body: text, headers = {} } = typeof reply === 'number' ? { status: reply, body: reply < 300 ? 'ok' : `error ${reply}` } : reply
      res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(text)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

export interface ReceivedMail {
  at: number
  /** Who logged in (undefined without AUTH). */
  user: string | undefined
  /** Whether the message came over TLS (after STARTTLS). */
  secure: boolean
  from: string
  to: string[]
  /** The raw message as it arrived. */
  raw: string
  /** Header values by lower-case name (unfolded). */
  headers: Record<string, string>
  /** The text body, quoted-printable decoded. */
  text: string
}

function parseMessage (raw: string): { headers: Record<string, string>, text: string } {
  const split = raw.indexOf('\r\n\r\n')
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ')
  const headers: Record<string, string> = {}
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  let text = raw.slice(split + 4)
  if (/quoted-printable/i.test(headers['content-transfer-encoding'] ?? '')) {
    text = Buffer.from(text.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8')
  }
  return { headers, text: text.replace(/\r\n/g, '\n') }
}

export interface SmtpReceiver {
  port: number
  mails: ReceivedMail[]
  /** Every AUTH a client tried: the username, and whether the connection was encrypted then. */
  logins: Array<{ username: string | undefined, secure: boolean }>
}

export interface SmtpReceiverOptions {
  /** AUTH is offered (also in clear) and only these are accepted; without them AUTH is off. */
  credentials?: { username: string, password: string }
  /** STARTTLS is offered with this certificate; without it STARTTLS is off. */
  tls?: { key: string, cert: string }
}

/** smtp-server on 127.0.0.1 that records each message and each login. */
export async function startSmtpReceiver (t: Test, { credentials, tls }: SmtpReceiverOptions = {}): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = []
  const logins: SmtpReceiver['logins'] = []
  const server = new SMTPServer({
    disabledCommands: [...(tls === undefined ? ['STARTTLS'] : []), ...(credentials === undefined ? ['AUTH'] : [])],
    ...tls,
    allowInsecureAuth: true,
    authOptional: credentials === undefined,
    logger: false,
    onAuth (auth, session, callback) {
      logins.push({ username: auth.username, secure: session.secure })
      if (auth.username === credentials?.username && auth.password === credentials?.password) return callback(null, { user: auth.username })
      callback(new Error('Invalid username or password'))
    },
    onData (stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        mails.push({
          at: Date.now(),
          user: session.user as string | undefined,
          secure: session.secure,
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map(address => address.address),
          raw,
          ...parseMessage(raw)
        })
        callback()
      })
    }
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  return { port: (server.server.address() as AddressInfo).port, mails, logins }
}
