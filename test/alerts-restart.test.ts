// SIGKILL of a process with alert deliveries pending: after a restart each one arrives, and
// none that was recorded as delivered arrives again (counted by idempotency key).
import { test } from 'tap'
import Database from 'better-sqlite3'
import { once } from 'node:events'
import { join } from 'node:path'
import type { Channel } from '../schemas/alerts.ts'
import { tempDir } from './support/app.ts'
import { startHttpReceiver, type HttpReceiver } from './support/alert-receivers.ts'
import { spawnNode } from './support/server-process.ts'
import { waitFor } from './support/wait.ts'

const ALERTS = 40

test('a SIGKILL with deliveries pending: after the restart each arrives, none recorded as delivered twice', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'history.sqlite')
  // In the first life the webhook receiver stops answering at its 10th request: that one is in
  // flight (its outcome unknown to the process) when the process is killed.
  let firstLife = true
  const receivers: HttpReceiver[] = [
    await startHttpReceiver(t, (_request, n) => (firstLife && n >= 9 ? 'hang' : 200)),
    await startHttpReceiver(t)
  ]
  const channels: Channel[] = [
    { id: 'channel-1', name: 'hook', type: 'webhook', url: receivers[0]!.url, secret: 's3cret' },
    { id: 'channel-2', name: 'slack', type: 'slack', url: receivers[1]!.url }
  ]

  const start = async (enqueue: number) => {
    const child = spawnNode(t, ['test/support/outbox-process.ts'], {
      env: { ...process.env, OUTBOX_FILE: file, OUTBOX_CHANNELS: JSON.stringify(channels), OUTBOX_ENQUEUE: String(enqueue) }
    })
    let output = ''
    child.stdout!.on('data', chunk => { output += chunk })
    child.stderr!.on('data', chunk => { output += chunk })
    await waitFor(() => output.includes(`enqueued ${enqueue}`), 60000, `the child to start (${output})`)
    return child
  }

  const first = await start(ALERTS)
  await waitFor(() => receivers[0]!.requests.length === 10, 20000, 'the 10th webhook request')
  first.kill('SIGKILL')
  await once(first, 'exit')
  firstLife = false

  const keysAt = (receiver: HttpReceiver) => receiver.requests.map(request => String(request.headers['x-estatus-delivery']))
  const db = new Database(file)
  const rows = db.prepare('SELECT key, state FROM alert_deliveries').all() as Array<{ key: string, state: string }>
  db.close()
  const deliveredBefore = rows.filter(row => row.state === 'delivered').map(row => row.key)
  const pendingBefore = rows.filter(row => row.state === 'pending').length
  t.equal(rows.length, ALERTS * channels.length, 'every delivery was committed before the kill')
  t.ok(pendingBefore > 0, `${pendingBefore} deliveries pending at the kill`)
  t.ok(deliveredBefore.length > 0, `${deliveredBefore.length} delivered before it`)

  await start(0)
  await waitFor(() => new Set([...keysAt(receivers[0]!), ...keysAt(receivers[1]!)]).size === ALERTS * channels.length, 30000, 'every delivery')
  await new Promise(resolve => setTimeout(resolve, 300))

  const received = [...keysAt(receivers[0]!), ...keysAt(receivers[1]!)]
  const counts = new Map<string, number>()
  for (const key of received) counts.set(key, (counts.get(key) ?? 0) + 1)
  t.equal(counts.size, ALERTS * channels.length, 'each delivery arrived')
  t.same(deliveredBefore.filter(key => counts.get(key) !== 1), [], 'none recorded as delivered arrived again')
  const repeats = [...counts.values()].filter(count => count > 1).length
  t.ok(repeats <= channels.length, `at most the attempt in flight per channel arrived twice (${repeats})`)
  t.same(rows.map(row => row.key).filter(key => !counts.has(key)), [])
})
