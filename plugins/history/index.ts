import fp from 'fastify-plugin'
import type { ServerConfig } from '../../schemas/config.ts'
import type { ConfigStore, ChangeSet } from '../../lib/config-store.ts'
import type { Monitor } from '../monitor/index.ts'
import { createSqliteStorage } from './sqlite-storage.ts'
import { createRecorder, type Clock } from './recorder.ts'
import { createHistoryQueries, type Retention } from './queries.ts'
import { STEP_MS } from './storage.ts'

export interface HistoryPluginOptions {
  file: string
  retention: Retention
  /** The default threshold to go offline (a server's own `consecutiveFailures` wins). */
  threshold: number
  /** Time source of the accounting; tests drive it. */
  clock?: Clock
  /** How often old rows are pruned (default 10 minutes). */
  pruneIntervalMs?: number
}

const FLUSH_CHECK_MS = 1000

/**
 * SPEC §9: listens to the monitor's results, sums them per server per minute in memory and
 * writes each minute when it is over (so a SIGKILL loses at most the current one). Decorates
 * the scope with `history`, the queries the routes answer with.
 */
export default fp<HistoryPluginOptions>(async function historyPlugin (fastify, options) {
  const store = fastify.getDecorator<ConfigStore>('configStore')
  const monitor = fastify.getDecorator<Monitor>('monitor')
  const log = fastify.log.child({ plugin: 'history' })
  const clock = options.clock ?? Date.now
  const storage = createSqliteStorage(options.file)
  const recorder = createRecorder({ storage, clock, log, lastStates: await storage.lastStates() })
  const failuresToOffline = (server: ServerConfig) => server.consecutiveFailures ?? options.threshold

  // Servers deleted while we were not running (a hand edit of the data file).
  const configured = new Set(store.servers().map(server => server.id))
  await recorder.forget((await storage.serverIds()).filter(id => !configured.has(id)))
  for (const server of store.servers()) recorder.track(server.id, failuresToOffline(server))

  function applyChanges (changes: ChangeSet) {
    for (const server of changes.serversAdded) recorder.track(server.id, failuresToOffline(server))
    for (const { before, after } of changes.serversUpdated) {
      if (before.dnsAddress !== after.dnsAddress) recorder.reset(after.id, failuresToOffline(after))
    }
    if (changes.serversRemoved.length > 0) void recorder.forget(changes.serversRemoved.map(server => server.id))
  }
  const unsubscribeStore = store.onChange(applyChanges)
  const unsubscribeResults = monitor.onResult(result => recorder.onResult(result))

  let flushedMinute = Math.floor(clock() / STEP_MS['1m'])
  const flushTimer = setInterval(() => {
    const minute = Math.floor(clock() / STEP_MS['1m'])
    if (minute === flushedMinute) return
    flushedMinute = minute
    void recorder.flush()
  }, FLUSH_CHECK_MS)

  let pruning: Promise<void> = Promise.resolve()
  const prune = () => {
    const now = clock()
    const { minutesMs, hoursMs, daysMs } = options.retention
    pruning = storage.prune({ minutes: now - minutesMs, hours: now - hoursMs, days: daysMs === null ? null : now - daysMs, transitions: now - hoursMs })
      .catch(err => log.error({ err }, 'could not prune history'))
  }
  prune()
  const pruneTimer = setInterval(prune, options.pruneIntervalMs ?? 600_000)
  flushTimer.unref()
  pruneTimer.unref()

  fastify.decorate('history', createHistoryQueries(storage, recorder, clock, options.retention))

  fastify.addHook('onClose', async () => {
    clearInterval(flushTimer)
    clearInterval(pruneTimer)
    unsubscribeResults()
    unsubscribeStore()
    await pruning
    // The current partial minutes too: a restart adds the rest of the minute to them.
    await recorder.close()
  })
}, {
  name: 'estatus-history',
  fastify: '5.x',
  dependencies: ['estatus-config-store', 'estatus-monitor']
})
