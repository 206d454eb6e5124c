// The alert routes of SPEC §10 over real HTTP, on the whole plugin.
import t from 'tap'
import { join } from 'node:path'
import type { AlertLogEntry } from '../schemas/alerts.ts'
import { createSqliteOutbox } from '../plugins/alerts/sqlite-outbox.ts'
import { deliveryKey } from '../plugins/alerts/outbox.ts'
import { startApp, tempDir, type Test } from './support/app.ts'
import { startHttpReceiver } from './support/alert-receivers.ts'
import { downAlert } from './support/outbox-app.ts'
import { checkBadLogQueries } from './support/log-query.ts'

const HOUR = 3_600_000

/** A history database holding three logged alerts (their deliveries finished), at -1 h, -2 h, -40 days. */
async function seededDir (t: Test) {
  const dir = await tempDir(t)
  const storage = createSqliteOutbox(join(dir, 'history.sqlite'))
  const now = Date.now()
  const alerts = [1, 2, 960].map(hours => downAlert(hours, { id: `alert-${hours}h`, at: new Date(now - hours * HOUR).toISOString() }))
  for (const alert of alerts) {
    await storage.add(alert, [
      { channelId: 'channel-1', key: deliveryKey(alert.id, 'channel-1'), attempt: { at: now, state: 'delivered', error: null } },
      { channelId: 'channel-2', key: deliveryKey(alert.id, 'channel-2'), attempt: { at: now, state: 'failed', error: 'HTTP 500: error 500' } }
    ], now)
  }
  await storage.close()
  return { dir, alerts }
}

t.test('GET /api/alerts: the log, newest first, with each delivery, within from/to and limit', async t => {
  const { dir, alerts } = await seededDir(t)
  const api = await startApp(t, { monitor: false, history: false }, dir)

  const recent = await api.call('GET', '/api/alerts')
  t.equal(recent.status, 200)
  t.same(recent.json.data.map((entry: { id: string }) => entry.id), ['alert-1h', 'alert-2h'], 'the last 30 days by default, newest first')
  const [first] = recent.json.data
  t.same({ ...first, deliveries: undefined }, { ...alerts[0], deliveries: undefined })
  t.match(first.deliveries, [
    { channelId: 'channel-1', key: deliveryKey('alert-1h', 'channel-1'), state: 'delivered', attempts: 1, nextAttemptAt: null, lastError: null },
    { channelId: 'channel-2', state: 'failed', attempts: 1, deliveredAt: null, lastError: 'HTTP 500: error 500' }
  ])
  t.type(first.deliveries[0].deliveredAt, 'string')

  const all = await api.call('GET', `/api/alerts?from=${new Date(Date.now() - 50 * 86_400_000).toISOString()}`)
  t.same(all.json.data.map((entry: { id: string }) => entry.id), ['alert-1h', 'alert-2h', 'alert-960h'])
  const limited = await api.call('GET', '/api/alerts?from=2000-01-01&limit=1')
  t.same(limited.json.data.map((entry: { id: string }) => entry.id), ['alert-1h'])
  const old = await api.call('GET', `/api/alerts?from=2000-01-01&to=${new Date(Date.now() - 10 * 86_400_000).toISOString()}`)
  t.same(old.json.data.map((entry: { id: string }) => entry.id), ['alert-960h'])
})

t.test('GET /api/alerts refuses bad queries with a 400 naming the field', async t => {
  const { dir } = await seededDir(t)
  const api = await startApp(t, { monitor: false }, dir)
  await checkBadLogQueries(t, path => api.call('GET', path), '/api/alerts')
})

t.test('POST /api/config/channels/:id/test sends a test alert now and answers with the outcome; 404 for an unknown channel', async t => {
  const dir = await tempDir(t)
  const ok = await startHttpReceiver(t)
  const refusing = await startHttpReceiver(t, () => ({ status: 500, body: 'broken: hook-secret-123' }))
  const api = await startApp(t, { monitor: false }, dir)
  const ops = await api.call('POST', '/api/config/channels', { name: 'ops', type: 'webhook', url: ok.url, secret: 'hook-secret-123' })
  const broken = await api.call('POST', '/api/config/channels', { name: 'broken', type: 'webhook', url: refusing.url, secret: 'hook-secret-123' })
  t.same([ops.status, broken.status], [201, 201])

  const sent = await api.call('POST', `/api/config/channels/${ops.json.data.id}/test`)
  t.equal(sent.status, 200)
  t.match(sent.json, { success: true, data: { delivered: true, status: 200 } })
  t.same(Object.keys(sent.json.data).sort(), ['delivered', 'durationMs', 'status'])
  t.equal(ok.requests.length, 1)
  t.match(ok.requests[0]!.json, { kind: 'test', message: "A test of the channel 'ops': alerts reach you here." })

  const failed = await api.call('POST', `/api/config/channels/${broken.json.data.id}/test`, undefined, { 'content-type': 'application/json' })
  t.equal(failed.status, 200, 'answered with the outcome, whatever it is')
  t.match(failed.json.data, { delivered: false, status: 500, error: 'HTTP 500: broken: ********' })

  const unknown = await api.call('POST', '/api/config/channels/channel-9/test')
  t.equal(unknown.status, 404)
  t.same(unknown.json, { success: false, error: "Channel with ID 'channel-9' not found" })

  const log = await api.call('GET', '/api/alerts')
  t.same(log.json.data.map((entry: AlertLogEntry) => [entry.kind, entry.deliveries.map(d => [d.channelId, d.state])]),
    [['test', [[broken.json.data.id, 'failed']]], ['test', [[ops.json.data.id, 'delivered']]]])
  const listed = await api.call('GET', '/api/config/channels')
  t.notOk([sent.text, failed.text, log.text, listed.text].join().includes('hook-secret-123'), 'the secret is in no answer')
})
