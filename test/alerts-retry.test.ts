// When the outbox tries again, gives up, skips, or looks again (SPEC §10), against real HTTP
// receivers on 127.0.0.1, and what it keeps of the alert log.
import { test } from 'tap'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { Alert, Channel } from '../schemas/alerts.ts'
import { deliveryKey } from '../plugins/alerts/outbox.ts'
import { createSqliteOutbox } from '../plugins/alerts/sqlite-outbox.ts'
import { DEFAULT_RETRY, createWorkers, retryDelay } from '../plugins/alerts/workers.ts'
import { tempDir } from './support/app.ts'
import { startHttpReceiver, type ReceivedRequest } from './support/alert-receivers.ts'
import { downAlert, startOutbox } from './support/outbox-app.ts'
import { waitFor } from './support/wait.ts'

const DAY = 86_400_000
const everything = { from: 0, to: Date.now() + DAY, limit: 1000 }
/** Retries far off: a test that sees a second attempt in time sees a bug. */
const SLOW_RETRY = { firstDelayMs: 60_000, maxDelayMs: 60_000, giveUpAfterMs: DAY }
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const idOf = (request: ReceivedRequest) => request.json?.id as string

test('the back-off of SPEC §10: 1, 2, 4 … s, at most 1 h, given up 24 h after the commit', async t => {
  const waits = Array.from({ length: 15 }, (_, i) => retryDelay(DEFAULT_RETRY, i + 1) / 1000)
  t.same(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600, 3600])
  t.equal(DEFAULT_RETRY.giveUpAfterMs, 24 * 3_600_000)
})

test('a 4xx other than 408, 425 and 429 fails the delivery at once, and the next in the queue goes', async t => {
  const dir = await tempDir(t)
  const refused = new Set<string>()
  const receiver = await startHttpReceiver(t, request => (refused.has(idOf(request)) ? { status: 400, body: 'no such team' } : 200))
  const retried = await startHttpReceiver(t, (_request, n) => (n === 0 ? 429 : n === 1 ? 408 : 200))
  const channels: Channel[] = [{ id: 'channel-1', name: 'hook', type: 'webhook', url: receiver.url }, { id: 'channel-2', name: 'busy', type: 'slack', url: retried.url }]
  const { app, outbox } = await startOutbox({ file: join(dir, 'history.sqlite'), channels, retry: { firstDelayMs: 50, maxDelayMs: 100, giveUpAfterMs: DAY } })
  t.teardown(() => app.close())

  const bad = downAlert(1)
  const good = downAlert(2)
  refused.add(bad.id)
  await outbox.enqueue(bad, ['channel-1'])
  await outbox.enqueue(good, ['channel-1'])
  await waitFor(() => receiver.requests.length === 2, 10_000, 'the second alert, not held by the first')
  t.same(receiver.requests.map(idOf), [bad.id, good.id])
  const log = await outbox.list(everything)
  t.match(log.find(entry => entry.id === bad.id)!.deliveries[0], { state: 'failed', attempts: 1, lastError: 'HTTP 400: no such team', nextAttemptAt: null })

  await outbox.enqueue(downAlert(3), ['channel-2'])
  await waitFor(() => retried.requests.length === 3, 10_000, '429 and 408 are retried')
})

test('Retry-After on 429 and 503 sets the wait, within the back-off maximum', async t => {
  const dir = await tempDir(t)
  const receiver = await startHttpReceiver(t, (_request, n) => [
    { status: 429, body: 'slow down', headers: { 'retry-after': '1' } },
    { status: 503, body: 'maintenance', headers: { 'retry-after': '3600' } },
    200
  ][n] ?? 200)
  const channels: Channel[] = [{ id: 'channel-1', name: 'hook', type: 'webhook', url: receiver.url }]
  const { app, outbox } = await startOutbox({ file: join(dir, 'history.sqlite'), channels, retry: { firstDelayMs: 50, maxDelayMs: 1500, giveUpAfterMs: DAY } })
  t.teardown(() => app.close())
  await outbox.enqueue(downAlert(1), ['channel-1'])
  await waitFor(() => receiver.requests.length === 3, 10000, 'three attempts')
  const [first, second, third] = receiver.requests.map(request => request.at)
  t.ok(second! - first! >= 990, `429 with Retry-After: 1 waited 1 s, not the 50 ms back-off (${second! - first!} ms)`)
  t.ok(third! - second! >= 1490 && third! - second! < 10_000, `503 with Retry-After: 3600 waited the 1.5 s maximum (${third! - second!} ms)`)
})

test('an `up` whose `down` failed on that channel is not sent; one whose `down` went through is', async t => {
  const dir = await tempDir(t)
  const refused = new Set<string>()
  const receiver = await startHttpReceiver(t, request => (refused.has(idOf(request)) ? 404 : 200))
  const channels: Channel[] = [{ id: 'channel-1', name: 'hook', type: 'webhook', url: receiver.url }]
  const { app, outbox } = await startOutbox({ file: join(dir, 'history.sqlite'), channels, retry: SLOW_RETRY })
  t.teardown(() => app.close())

  const upOf = (down: Alert, overrides: Partial<Alert> = {}) => ({ ...down, id: `${down.id}-up`, kind: 'up' as const, message: 'up again', ...overrides })
  const lostDown = downAlert(1)
  const sentDown = downAlert(2)
  refused.add(lostDown.id)
  const storm = downAlert(3, { storm: { group: { id: 'group-1', name: 'Rack A' }, servers: [{ id: 'server-3', name: 'web-3', ip: '10.0.0.3' }, { id: 'server-4', name: 'web-4', ip: '10.0.0.4' }] } })
  refused.add(storm.id)
  const alerts = [lostDown, sentDown, upOf(sentDown), upOf(lostDown), storm, upOf(storm, { server: { id: 'server-4', name: 'web-4', ip: '10.0.0.4' } }), downAlert(5)]
  for (const alert of alerts) await outbox.enqueue(alert, ['channel-1'])
  await waitFor(async () => (await outbox.list(everything)).every(entry => entry.deliveries[0]!.state !== 'pending'), 10_000, 'every delivery finished')

  t.same(receiver.requests.map(idOf), [lostDown.id, sentDown.id, `${sentDown.id}-up`, storm.id, alerts[6]!.id], 'the ups of failed downs were never sent')
  const log = await outbox.list(everything)
  for (const id of [`${lostDown.id}-up`, `${storm.id}-up`]) {
    t.match(log.find(entry => entry.id === id)!.deliveries[0], { state: 'failed', attempts: 0, lastError: 'its down alert was not delivered' })
  }
})

test('a channel deleted while its queue is worked: nothing more is sent to it', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'history.sqlite')
  const channels: Channel[] = []
  const receiver = await startHttpReceiver(t, () => {
    channels.splice(0, 1)
    return 200
  })
  channels.push({ id: 'channel-1', name: 'hook', type: 'webhook', url: receiver.url })
  // Pending before the start: the worker reads the three as one batch.
  const seed = createSqliteOutbox(file)
  for (let n = 1; n <= 3; n++) {
    const alert = downAlert(n)
    await seed.add(alert, [{ channelId: 'channel-1', key: deliveryKey(alert.id, 'channel-1') }], Date.now())
  }
  await seed.close()
  const { app, outbox } = await startOutbox({ file, channels, retry: SLOW_RETRY })
  t.teardown(() => app.close())
  await waitFor(async () => (await outbox.list(everything)).every(entry => entry.deliveries[0]!.state !== 'pending'), 10_000, 'every delivery finished')
  t.equal(receiver.requests.length, 1, 'only the one in flight when it went')
  const states = (await outbox.list(everything)).map(entry => [entry.deliveries[0]!.state, entry.deliveries[0]!.lastError])
  t.same(states.sort(), [['delivered', null], ['failed', 'the channel no longer exists'], ['failed', 'the channel no longer exists']])
})

test('an edited channel is tried again now, not after its back-off', async t => {
  const dir = await tempDir(t)
  const receiver = await startHttpReceiver(t)
  const channels: Channel[] = [{ id: 'channel-1', name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/typo' }]
  const { app, outbox, changed } = await startOutbox({ file: join(dir, 'history.sqlite'), channels, retry: SLOW_RETRY })
  t.teardown(() => app.close())
  await outbox.enqueue(downAlert(1), ['channel-1'])
  await waitFor(async () => (await outbox.list(everything))[0]!.deliveries[0]!.attempts === 1, 10_000, 'the first attempt failed')
  channels[0] = { id: 'channel-1', name: 'hook', type: 'webhook', url: receiver.url }
  changed('channel-1')
  await waitFor(() => receiver.requests.length === 1, 10_000, 'the retry after the edit, a minute early')
  await waitFor(async () => (await outbox.list(everything))[0]!.deliveries[0]!.state === 'delivered', 10_000, 'delivered')
})

test('closing the app during attempts: one delivered is recorded so and never sent again; one in flight is sent once after the restart', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'history.sqlite')
  let firstLife = true
  // Its 200 comes at once but the answer's body never ends.
  const slowBody = await startHttpReceiver(t, () => (firstLife ? 'slow-body' : 200))
  const hanging = await startHttpReceiver(t, () => (firstLife ? 'hang' : 200))
  const channels: Channel[] = [{ id: 'channel-1', name: 'slow', type: 'webhook', url: slowBody.url }, { id: 'channel-2', name: 'hanging', type: 'slack', url: hanging.url }]
  const first = await startOutbox({ file, channels, retry: SLOW_RETRY })
  const alert = downAlert(1)
  await first.outbox.enqueue(alert, ['channel-1', 'channel-2'])
  await waitFor(() => slowBody.requests.length === 1 && hanging.requests.length === 1, 10_000, 'both attempts under way')
  await sleep(100)
  await first.app.close()
  firstLife = false

  const second = await startOutbox({ file, channels, retry: SLOW_RETRY })
  t.teardown(() => second.app.close())
  await waitFor(() => hanging.requests.length === 2, 10_000, 'the one in flight, sent again')
  await sleep(300)
  t.equal(slowBody.requests.length, 1, 'the delivered one is not sent again')
  t.equal(hanging.requests.length, 2, 'the other once more')
  const deliveries = (await second.outbox.list(everything))[0]!.deliveries
  t.same(deliveries.map(d => [d.channelId, d.state]), [['channel-1', 'delivered'], ['channel-2', 'delivered']])
})

test('workers: an outcome known to be delivered is recorded even when it arrives after the stop', async t => {
  const dir = await tempDir(t)
  const storage = createSqliteOutbox(join(dir, 'history.sqlite'))
  t.teardown(() => storage.close())
  const channel: Channel = { id: 'channel-1', name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/' }
  let sending!: () => void
  const started = new Promise<void>(resolve => { sending = resolve })
  const workers = createWorkers({
    storage,
    config: { channels: () => [channel], channel: () => channel, alertRules: () => [], maintenanceWindows: () => [] },
    // A receiver whose 200 arrives just as the stop begins.
    senders: {
      send: (_channel, _message, signal) => new Promise(resolve => {
        sending()
        signal.addEventListener('abort', () => resolve({ delivered: true, status: 200, durationMs: 1 }))
      }),
      close: async () => {}
    },
    retry: SLOW_RETRY,
    log: Fastify({ logger: false }).log,
    emit: () => {}
  })
  const alert = downAlert(1)
  await storage.add(alert, [{ channelId: 'channel-1', key: deliveryKey(alert.id, 'channel-1') }], Date.now())
  workers.wake('channel-1')
  await started
  await workers.close()
  t.match((await storage.list(0, Date.now() + DAY, 10))[0]!.deliveries[0], { state: 'delivered', attempts: 1 })
})

test('the alert log keeps 400 days: older alerts whose deliveries are finished are deleted at start and hourly, pending ones never', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'history.sqlite')
  const hanging = await startHttpReceiver(t, () => 'hang')
  const today = Date.now()
  const daysAgo = (days: number) => new Date(today - days * DAY).toISOString()
  const seed = createSqliteOutbox(file)
  const finished = async (id: string, at: string) => {
    const alert = downAlert(1, { id, at })
    await seed.add(alert, [
      { channelId: 'channel-8', key: deliveryKey(id, 'channel-8'), attempt: { at: Date.parse(at), state: 'delivered', error: null } },
      { channelId: 'channel-9', key: deliveryKey(id, 'channel-9'), attempt: { at: Date.parse(at), state: 'failed', error: 'HTTP 500' } }
    ], Date.parse(at))
  }
  await finished('old', daysAgo(401))
  await finished('older', daysAgo(500))
  await finished('recent', daysAgo(399))
  // Its `at` is old but one of its deliveries is still to send.
  const stuck = downAlert(2, { id: 'stuck', at: daysAgo(450) })
  await seed.add(stuck, [{ channelId: 'channel-1', key: deliveryKey('stuck', 'channel-1') }], today)
  await seed.close()

  let now = today
  const channels: Channel[] = [{ id: 'channel-1', name: 'hook', type: 'webhook', url: hanging.url }]
  const { app, outbox } = await startOutbox({ file, channels, retry: SLOW_RETRY, clock: () => now, pruneIntervalMs: 50 })
  t.teardown(() => app.close())
  const ids = async () => (await outbox.list(everything)).map(entry => entry.id).sort()
  await waitFor(async () => (await ids()).length === 2, 10_000, 'pruned at start')
  t.same(await ids(), ['recent', 'stuck'])

  now = today + 2 * DAY
  await waitFor(async () => (await ids()).length === 1, 10_000, 'pruned by the next run')
  t.same(await ids(), ['stuck'], 'a pending delivery keeps its alert')
  await app.close()
  const db = new Database(file, { readonly: true })
  t.teardown(() => db.close())
  t.same(db.prepare('SELECT alert_id AS id, state FROM alert_deliveries').all(), [{ id: 'stuck', state: 'pending' }], 'the deliveries went with their alerts')
})
