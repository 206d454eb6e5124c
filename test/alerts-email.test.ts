// The e-mail channel against real SMTP servers on 127.0.0.1: a password goes out only over TLS,
// and one attempt ends after the attempt timeout however the server trickles its replies.
import { test } from 'tap'
import { writeFile } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { EmailChannel } from '../schemas/alerts.ts'
import { tempDir } from './support/app.ts'
import { startSmtpReceiver } from './support/alert-receivers.ts'
import { selfSignedCertificate } from './support/certificate.ts'
import { startOutbox } from './support/outbox-app.ts'
import { spawnNode } from './support/server-process.ts'
import { waitFor } from './support/wait.ts'

const mailChannel = (port: number, login: Partial<EmailChannel> = {}): EmailChannel =>
  ({ id: 'channel-1', name: 'mail', type: 'email', host: '127.0.0.1', port, secure: false, from: 'estatus@example.org', to: ['ops@example.org'], ...login })
const login = { username: 'alerts', password: 'mail-pass-4711' }

test('with a username and without `secure`, STARTTLS is required: a server that offers none never sees the login', async t => {
  const dir = await tempDir(t)
  const smtp = await startSmtpReceiver(t, { credentials: login })
  const channel = mailChannel(smtp.port, login)
  const { app, outbox } = await startOutbox({ file: join(dir, 'history.sqlite'), channels: [channel] })
  t.teardown(() => app.close())
  const outcome = await outbox.test(channel)
  t.match(outcome, { delivered: false })
  t.same(smtp.logins, [], 'no AUTH in clear')
  t.same(smtp.mails, [])
})

test('over STARTTLS the login and the alert go through (the certificate trusted as an operator would, NODE_EXTRA_CA_CERTS)', async t => {
  const dir = await tempDir(t)
  const certificate = await selfSignedCertificate()
  const caFile = join(dir, 'ca.pem')
  await writeFile(caFile, certificate.cert)
  const smtp = await startSmtpReceiver(t, { credentials: login, tls: certificate })
  const child = spawnNode(t, ['test/support/outbox-process.ts'], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile, OUTBOX_FILE: join(dir, 'history.sqlite'), OUTBOX_CHANNELS: JSON.stringify([mailChannel(smtp.port, login)]), OUTBOX_ENQUEUE: '1' }
  })
  let output = ''
  child.stdout!.on('data', chunk => { output += chunk })
  child.stderr!.on('data', chunk => { output += chunk })
  await waitFor(() => smtp.mails.length === 1, 60000, `the mail (${output})`)
  t.same(smtp.logins, [{ username: 'alerts', secure: true }], 'logged in once, encrypted')
  t.match(smtp.mails[0], { user: 'alerts', secure: true, to: ['ops@example.org'] })
})

test('a server that trickles its replies is cut off after the attempt timeout', async t => {
  const dir = await tempDir(t)
  // Greets at once, then answers EHLO with one continuation line every 100 ms, forever: no
  // per-step timeout (silence) ever fires.
  const sockets = new Set<Socket>()
  const server = createServer(socket => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.write('220 trickle ESMTP\r\n')
    socket.once('data', () => {
      const timer = setInterval(() => socket.write('250-still thinking\r\n'), 100)
      socket.on('close', () => clearInterval(timer))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  const channel = mailChannel((server.address() as AddressInfo).port)
  const timeouts = { connectMs: 200, headersMs: 300, bodyMs: 500 }
  const { app, outbox } = await startOutbox({ file: join(dir, 'history.sqlite'), channels: [channel], timeouts })
  t.teardown(() => app.close())
  const outcome = await outbox.test(channel)
  t.match(outcome, { delivered: false })
  t.ok(outcome.durationMs >= 900 && outcome.durationMs < 5000, `ended after the attempt's 1 s in all (${outcome.durationMs} ms)`)
})
