/**
 * A process using the alert outbox, for crash tests: OUTBOX_FILE is its database,
 * OUTBOX_CHANNELS its channels (JSON), OUTBOX_ENQUEUE how many `down` alerts it queues to
 * every channel at start. It prints `enqueued <n>` once they are committed, then runs until killed.
 */
import type { Channel } from '../../schemas/alerts.ts'
import { downAlert, startOutbox } from './outbox-app.ts'

const channels = JSON.parse(process.env.OUTBOX_CHANNELS ?? '[]') as Channel[]
const { outbox } = await startOutbox({ file: process.env.OUTBOX_FILE!, channels, retry: { firstDelayMs: 50, maxDelayMs: 200 } })
const count = Number(process.env.OUTBOX_ENQUEUE ?? 0)
for (let n = 1; n <= count; n++) await outbox.enqueue(downAlert(n), channels.map(channel => channel.id))
process.stdout.write(`enqueued ${count}\n`)
setInterval(() => {}, 60_000)
