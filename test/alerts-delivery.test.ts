// The alert outbox (SPEC §10) against real receivers on 127.0.0.1: HTTP servers standing in
// for a webhook endpoint, Slack and Teams, and a real SMTP server (smtp-server).
import { test } from 'tap'
import { createHmac } from 'node:crypto'
import { join } from 'node:path'
import type { Channel } from '../schemas/alerts.ts'
import type { DeliveryEvent } from '../plugins/alerts/types.ts'
import { deliveryKey } from '../plugins/alerts/outbox.ts'
import { tempDir } from './support/app.ts'
import { startHttpReceiver, startSmtpReceiver } from './support/alert-receivers.ts'
import { downAlert, startOutbox } from './support/outbox-app.ts'
import { waitFor } from './support/wait.ts'

const FAST_RETRY = { firstDelayMs: 50, maxDelayMs: 400, giveUpAfterMs: 60_000 }
const everything = { from: 0, to: Date.now() + 86_400_000, limit: 1000 }

test('each channel type gets its payload: the alert signed (webhook), text + blocks (Slack), an Adaptive Card (Teams), a mail', async t => {
  const dir = await tempDir(t)
  const [webhook, slack, teams] = await Promise.all([startHttpReceiver(t), startHttpReceiver(t), startHttpReceiver(t)])
  const smtp = await startSmtpReceiver(t)
  const channels: Channel[] = [
    { id: 'channel-1', name: 'hook', type: 'webhook', url: `${webhook.url}/hooks/estatus?x=1`, secret: 'hook-secret-xyz', headers: { Authorization: 'Bearer ops-token', 'X-Estatus-Delivery': 'forged' } },
    { id: 'channel-2', name: 'slack', type: 'slack', url: `${slack.url}/services/T000/B000/XXXX` },
    { id: 'channel-3', name: 'teams', type: 'teams', url: `${teams.url}/workflows/abc/triggers/manual/paths/invoke?sig=s1` },
    { id: 'channel-4', name: 'mail', type: 'email', host: '127.0.0.1', port: smtp.port, secure: false, from: 'estatus@example.org', to: ['ops@example.org', 'oncall@example.org'] }
  ]
  const { app, outbox } = await startOutbox({ file: join(dir, 'history.sqlite'), channels, retry: FAST_RETRY })
  t.teardown(() => app.close())

  const alert = downAlert(7, { groups: ['Rack A', 'R&D <lab>'], message: 'web-7 (10.0.0.7) is down since 12:00 & still <down>' })
  const before = Math.floor(Date.now() / 1000)
  await outbox.enqueue(alert, channels.map(channel => channel.id))
  await waitFor(() => webhook.requests.length && slack.requests.length && teams.requests.length && smtp.mails.length, 10000, 'every channel')

  // Webhook: the alert as JSON, the key, the signature over "<t>.<body>", the channel's own headers (never over ours).
  const hook = webhook.requests[0]!
  t.equal(hook.path, '/hooks/estatus?x=1')
  t.same(hook.json, alert, 'the body is the alert')
  t.match(hook.headers['content-type'], /^application\/json/)
  t.equal(hook.headers['x-estatus-delivery'], deliveryKey(alert.id, 'channel-1'))
  t.equal(hook.headers.authorization, 'Bearer ops-token')
  const [, t0, mac] = /^t=(\d+),sha256=([0-9a-f]{64})$/.exec(String(hook.headers['x-estatus-signature'])) ?? []
  t.ok(Number(t0) >= before && Number(t0) <= Math.ceil(Date.now() / 1000), 't is the unix time of the attempt')
  t.equal(mac, createHmac('sha256', 'hook-secret-xyz').update(`${t0}.${hook.body}`).digest('hex'), 'HMAC-SHA256 of "<t>.<body>"')

  // Slack: an incoming-webhook message; & < > escaped as Slack asks.
  t.equal(slack.requests[0]!.path, '/services/T000/B000/XXXX')
  t.same(slack.requests[0]!.json, {
    text: 'DOWN: web-7 (10.0.0.7)\n\nweb-7 (10.0.0.7) is down since 12:00 &amp; still &lt;down&gt;\n\nServer: web-7 (10.0.0.7)\nGroups: Rack A, R&amp;D &lt;lab&gt;\n' +
      `Since: ${alert.since}\nDuration: 0 s\nRule: Servers down\nAlert: ${alert.id}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: 'DOWN: web-7 (10.0.0.7)' } },
      { type: 'section', text: { type: 'mrkdwn', text: 'web-7 (10.0.0.7) is down since 12:00 &amp; still &lt;down&gt;' } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: '*Server*\nweb-7 (10.0.0.7)' },
          { type: 'mrkdwn', text: '*Groups*\nRack A, R&amp;D &lt;lab&gt;' },
          { type: 'mrkdwn', text: `*Since*\n${alert.since}` },
          { type: 'mrkdwn', text: '*Duration*\n0 s' },
          { type: 'mrkdwn', text: '*Rule*\nServers down' },
          { type: 'mrkdwn', text: `*Alert*\n${alert.id}` }
        ]
      }
    ]
  })

  // Teams: the documented webhook message with one Adaptive Card.
  t.same(teams.requests[0]!.json, {
    type: 'message',
    attachments: [{
      contentType: 'application/vnd.microsoft.card.adaptive',
      contentUrl: null,
      content: {
        $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
        type: 'AdaptiveCard',
        version: '1.4',
        body: [
          { type: 'TextBlock', text: 'DOWN: web-7 (10.0.0.7)', size: 'Large', weight: 'Bolder', color: 'Attention', wrap: true },
          { type: 'TextBlock', text: 'web-7 (10.0.0.7) is down since 12:00 & still <down>', wrap: true },
          {
            type: 'FactSet',
            facts: [
              { title: 'Server', value: 'web-7 (10.0.0.7)' },
              { title: 'Groups', value: 'Rack A, R&D <lab>' },
              { title: 'Since', value: alert.since },
              { title: 'Duration', value: '0 s' },
              { title: 'Rule', value: 'Servers down' },
              { title: 'Alert', value: alert.id }
            ]
          }
        ]
      }
    }]
  })

  // E-mail: to every address, the key in Message-ID and X-Estatus-Delivery (logging in over STARTTLS: alerts-email.test.ts).
  const mail = smtp.mails[0]!
  const key = deliveryKey(alert.id, 'channel-4')
  t.equal(mail.from, 'estatus@example.org')
  t.same(mail.to, ['ops@example.org', 'oncall@example.org'])
  t.equal(mail.headers.subject, '[estatus] DOWN: web-7 (10.0.0.7)')
  t.equal(mail.headers['message-id'], `<${key}@example.org>`)
  t.equal(mail.headers['x-estatus-delivery'], key)
  t.match(mail.text, 'web-7 (10.0.0.7) is down since 12:00 & still <down>')
  t.match(mail.text, 'Groups: Rack A, R&D <lab>')

  // The log: one entry, a delivered delivery per channel, each after one attempt.
  await waitFor(async () => (await outbox.list(everything))[0]?.deliveries.every(d => d.state === 'delivered'), 10_000, 'all delivered')
  const [entry, ...rest] = await outbox.list(everything)
  t.equal(rest.length, 0)
  t.same({ ...entry, deliveries: undefined }, { ...alert, deliveries: undefined })
  t.same(entry!.deliveries.map(d => [d.channelId, d.state, d.attempts, d.nextAttemptAt, d.lastError]), channels.map(c => [c.id, 'delivered', 1, null, null]))
  t.same(entry!.deliveries.map(d => d.key), channels.map(c => deliveryKey(alert.id, c.id)))
  t.equal(webhook.requests.length + slack.requests.length + teams.requests.length + smtp.mails.length, 4, 'once each')
})

test('a receiver that answers 500 three times then 200 gets the alert once more, with back-off, and in order', async t => {
  const dir = await tempDir(t)
  const receiver = await startHttpReceiver(t, (_request, n) => (n < 3 ? 500 : 200))
  const channels: Channel[] = [{ id: 'channel-1', name: 'hook', type: 'webhook', url: receiver.url }]
  const { app, outbox, logs } = await startOutbox({ file: join(dir, 'history.sqlite'), channels, retry: FAST_RETRY })
  t.teardown(() => app.close())
  const events: DeliveryEvent[] = []
  outbox.onDelivery(event => events.push(event))

  const down = downAlert(1)
  const up = downAlert(1, { id: `${down.id}-up`, kind: 'up', message: 'web-1 is up again' })
  await outbox.enqueue(down, ['channel-1'])
  await outbox.enqueue(up, ['channel-1'])
  await waitFor(() => receiver.requests.length >= 5, 10000, 'five requests')

  const keys = receiver.requests.map(request => request.headers['x-estatus-delivery'])
  const downKey = deliveryKey(down.id, 'channel-1')
  t.same(keys, [downKey, downKey, downKey, downKey, deliveryKey(up.id, 'channel-1')], 'the same key on every retry; up only after down is through')
  const gaps = receiver.requests.slice(1, 4).map((request, i) => request.at - receiver.requests[i]!.at)
  t.ok(gaps[0]! >= 45 && gaps[1]! >= 95 && gaps[2]! >= 195, `exponential back-off 50, 100, 200 ms (${gaps.join(', ')})`)

  await waitFor(async () => (await outbox.list(everything)).every(entry => entry.deliveries[0]!.state === 'delivered'), 10_000, 'both delivered')
  const log = await outbox.list(everything)
  const downEntry = log.find(entry => entry.id === down.id)!
  t.match(downEntry.deliveries[0], { state: 'delivered', attempts: 4, lastError: 'HTTP 500: error 500', nextAttemptAt: null })
  t.match(log.find(entry => entry.id === up.id)!.deliveries[0], { state: 'delivered', attempts: 1, lastError: null })
  t.same(events.map(event => event.outcome), ['retried', 'retried', 'retried', 'delivered', 'delivered'])
  const warnings = logs.map(line => JSON.parse(line)).filter(line => line.msg === 'alert delivery failed')
  t.same(warnings.map(line => [line.attempts, line.error, line.key]), [[1, 'HTTP 500: error 500', downKey], [2, 'HTTP 500: error 500', downKey], [3, 'HTTP 500: error 500', downKey]], 'every failed attempt logged')

  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(receiver.requests.length, 5, 'nothing is sent again once delivered')
})

test('a receiver that hangs holds only its own channel: the others deliver at once', async t => {
  const dir = await tempDir(t)
  const hanging = await startHttpReceiver(t, () => 'hang')
  const healthy = await startHttpReceiver(t)
  const smtp = await startSmtpReceiver(t)
  const channels: Channel[] = [
    { id: 'channel-1', name: 'stuck', type: 'webhook', url: hanging.url },
    { id: 'channel-2', name: 'slack', type: 'slack', url: healthy.url },
    { id: 'channel-3', name: 'mail', type: 'email', host: '127.0.0.1', port: smtp.port, secure: false, from: 'a@example.org', to: ['b@example.org'] }
  ]
  const headersMs = 4000
  const { app, outbox } = await startOutbox({ file: join(dir, 'history.sqlite'), channels, retry: FAST_RETRY, timeouts: { headersMs } })
  t.teardown(() => app.close())

  const started = Date.now()
  for (let n = 1; n <= 5; n++) await outbox.enqueue(downAlert(n), channels.map(channel => channel.id))
  await waitFor(() => healthy.requests.length === 5 && smtp.mails.length === 5, headersMs, 'the healthy channels')
  const took = Date.now() - started
  t.ok(took < headersMs, `5 alerts on 2 healthy channels in ${took} ms, before the hanging one's first attempt timed out (${headersMs} ms)`)
  t.equal(hanging.requests.length, 1, 'the hanging channel is still on its first attempt')

  // Its headers timeout ends the attempt; it is retried and logged as such.
  await waitFor(async () => (await outbox.list(everything)).some(entry => entry.deliveries.some(d => d.channelId === 'channel-1' && d.attempts > 0)), headersMs + 6000, 'the timeout')
  const stuck = (await outbox.list(everything)).flatMap(entry => entry.deliveries).find(d => d.channelId === 'channel-1' && d.attempts > 0)
  t.match(stuck, { state: 'pending', attempts: 1, lastError: 'UND_ERR_HEADERS_TIMEOUT: no answer in time' })
  t.type(stuck?.nextAttemptAt, 'string')
})

test('a delivery that never gets through fails after the give-up time; so does one whose channel is deleted', async t => {
  const dir = await tempDir(t)
  const refusing = await startHttpReceiver(t, () => 503)
  const channels: Channel[] = [
    { id: 'channel-1', name: 'down', type: 'teams', url: refusing.url },
    { id: 'channel-2', name: 'gone', type: 'slack', url: 'http://127.0.0.1:9/never' }
  ]
  const { app, outbox } = await startOutbox({ file: join(dir, 'history.sqlite'), channels, retry: { firstDelayMs: 50, maxDelayMs: 100, giveUpAfterMs: 600 } })
  t.teardown(() => app.close())
  const events: DeliveryEvent[] = []
  outbox.onDelivery(event => events.push(event))

  const alert = downAlert(1)
  channels.splice(1, 1)
  await outbox.enqueue(alert, ['channel-1', 'channel-2'])
  await waitFor(async () => (await outbox.list(everything))[0]!.deliveries.every(d => d.state === 'failed'), 10_000, 'both failed')
  const [first, second] = (await outbox.list(everything))[0]!.deliveries
  t.match(first, { channelId: 'channel-1', state: 'failed', lastError: 'HTTP 503: error 503', nextAttemptAt: null })
  t.ok(first!.attempts >= 4, `retried until the give-up time (${first!.attempts} attempts)`)
  t.match(second, { channelId: 'channel-2', state: 'failed', attempts: 0, lastError: 'the channel no longer exists' })
  t.same(events.filter(event => event.outcome === 'failed').map(event => event.channelId).sort(), ['channel-1', 'channel-2'])
  const count = refusing.requests.length
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(refusing.requests.length, count, 'no attempt after giving up')
})

test('an alert queued twice is one delivery per channel; enqueue resolves once committed, before any attempt', async t => {
  const dir = await tempDir(t)
  const receiver = await startHttpReceiver(t)
  const channels: Channel[] = [{ id: 'channel-1', name: 'hook', type: 'webhook', url: receiver.url }]
  const { app, outbox } = await startOutbox({ file: join(dir, 'history.sqlite'), channels, retry: FAST_RETRY })
  t.teardown(() => app.close())
  const alert = downAlert(1)
  await outbox.enqueue(alert, ['channel-1', 'channel-1'])
  const [entry] = await outbox.list(everything)
  t.same(entry?.deliveries.map(d => [d.state, d.attempts]), [['pending', 0]], 'committed and pending when enqueue resolves')
  await outbox.enqueue(alert, ['channel-1'])
  await waitFor(() => receiver.requests.length === 1, 10_000, 'the delivery')
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(receiver.requests.length, 1)
  t.equal((await outbox.list(everything))[0]!.deliveries.length, 1)
})

test('test(): sent at once past a stuck queue, answered with the outcome, logged as a test alert', async t => {
  const dir = await tempDir(t)
  const receiver = await startHttpReceiver(t, request => (request.json?.kind === 'test' ? 200 : 500))
  const channels: Channel[] = [{ id: 'channel-1', name: 'hook', type: 'webhook', url: receiver.url }]
  const { app, outbox } = await startOutbox({ file: join(dir, 'history.sqlite'), channels, retry: { firstDelayMs: 60_000, maxDelayMs: 60_000, giveUpAfterMs: 600_000 } })
  t.teardown(() => app.close())
  await outbox.enqueue(downAlert(1), ['channel-1'])
  await waitFor(() => receiver.requests.length === 1, 10_000, 'the first attempt')

  const outcome = await outbox.test(channels[0]!)
  t.match(outcome, { delivered: true, status: 200 })
  t.type(outcome.durationMs, 'number')
  const sent = receiver.requests[1]!
  t.match(sent.json, { kind: 'test', rule: { id: 'test', name: 'Channel test' }, server: { id: 'test', ip: '192.0.2.1' }, message: "A test of the channel 'hook': alerts reach you here." })
  const log = await outbox.list(everything)
  const logged = log.find(entry => entry.kind === 'test')
  t.same(logged?.deliveries.map(d => [d.channelId, d.state, d.attempts, d.key]), [['channel-1', 'delivered', 1, sent.headers['x-estatus-delivery']]])

  const refused = await outbox.test({ id: 'channel-9', name: 'nowhere', type: 'slack', url: 'http://127.0.0.1:9/x' })
  t.match(refused, { delivered: false, error: 'ECONNREFUSED: connection refused' })
  t.equal(refused.status, undefined)
})

test('secrets (webhook secret, URL tokens, header values, SMTP password) reach no outcome, log entry or log line, even when a receiver echoes them', async t => {
  const dir = await tempDir(t)
  const echo = (request: { path: string, headers: object, body: string }) => ({ status: 500, body: `refused ${request.path} ${JSON.stringify(request.headers)}` })
  const webhook = await startHttpReceiver(t, echo)
  const slack = await startHttpReceiver(t, request => ({ status: 404, body: `no_service for ${request.path}` }))
  const smtp = await startSmtpReceiver(t, { credentials: { username: 'alerts', password: 'the-right-one' } })
  const secrets = ['url-pass-777', 'tok-path-secret-555', 'query-secret-444', 'hook-secret-xyz-999', 'hdr-secret-888', 'slack-token-666', 'mail-pass-wrong-321']
  const channels: Channel[] = [
    { id: 'channel-1', name: 'hook', type: 'webhook', url: `${webhook.url}/hook/tok-path-secret-555?key=query-secret-444`, secret: 'hook-secret-xyz-999', headers: { Authorization: 'Bearer hdr-secret-888' } },
    { id: 'channel-2', name: 'slack', type: 'slack', url: `${slack.url}/services/slack-token-666` },
    { id: 'channel-3', name: 'mail', type: 'email', host: '127.0.0.1', port: smtp.port, secure: false, username: 'alerts', password: 'mail-pass-wrong-321', from: 'a@example.org', to: ['b@example.org'] },
    { id: 'channel-4', name: 'userinfo', type: 'webhook', url: webhook.url.replace('http://', 'http://ops:url-pass-777@') + '/x' }
  ]
  const { app, outbox, logs } = await startOutbox({ file: join(dir, 'history.sqlite'), channels, retry: FAST_RETRY })
  t.teardown(() => app.close())

  const outcomes = []
  for (const channel of channels) outcomes.push(await outbox.test(channel))
  await outbox.enqueue(downAlert(1), channels.map(channel => channel.id))
  await waitFor(async () => (await outbox.list(everything)).every(entry => entry.deliveries.every(d => d.attempts >= 2 || d.state !== 'pending')), 10000, 'retries')
  t.ok(webhook.requests.length >= 3 && slack.requests.length >= 2, 'the receivers were reached')
  t.match(webhook.requests[0]!.body, /^\{/, 'and were sent what they should')

  t.same(outcomes.map(outcome => outcome.delivered), [false, false, false, false])
  t.match(outcomes[0]!.error, /^HTTP 500: refused /)
  t.match(outcomes[1]!.error, /^HTTP 404: no_service for /)
  t.same(smtp.logins, [], 'the password never went out in clear: no STARTTLS, no login (alerts-email.test.ts)')
  const everythingSaid = JSON.stringify({ outcomes, log: await outbox.list(everything), lines: logs })
  for (const secret of secrets) t.notOk(everythingSaid.includes(secret), `${secret} appears nowhere`)
  t.match(everythingSaid, /\*{8}/, 'the echoes are there, masked')
})
