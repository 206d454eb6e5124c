import fp from 'fastify-plugin'
import type { ServerConfig } from '../../schemas/config.ts'
import type { ConfigStore, ChangeSet } from '../../lib/config-store.ts'
import type { Monitor } from '../monitor/index.ts'
import { createSqliteStorage } from './sqlite-storage.ts'
import { createRecorder, type Clock, type Recorder } from './recorder.ts'
import { createPgHistoryStorage } from './pg-storage.ts'
import { clusterOf } from '../cluster.ts'
import type { Leadership } from '../leadership.ts'
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
  const leadership = fastify.getDecorator<Leadership>('leadership')
  const cluster = clusterOf(fastify)
  const log = fastify.log.child({ plugin: 'history' })
  const clock = options.clock ?? Date.now
  const storage = cluster === null ? createSqliteStorage(options.file) : createPgHistoryStorage(cluster.database.pool)
  const failuresToOffline = (server: ServerConfig) => server.consecutiveFailures ?? options.threshold
  /** The leader records (SPEC §12); every node answers the queries from the tables. */
  let recorder: Recorder | null = null

  const stopLeading = await leadership.whileLeading('history', async () => {
    const recording = createRecorder({ storage, clock, log, lastStates: await storage.lastStates() })
    // Servers deleted while we were not recording (a hand edit of the data file, or another leader's time).
    const configured = new Set(store.servers().map(server => server.id))
    await recording.forget((await storage.serverIds()).filter(id => !configured.has(id)))
    for (const server of store.servers()) recording.track(server.id, failuresToOffline(server))
    recorder = recording

    function applyChanges (changes: ChangeSet) {
      for (const server of changes.serversAdded) recording.track(server.id, failuresToOffline(server))
      for (const { before, after } of changes.serversUpdated) {
        if (before.dnsAddress !== after.dnsAddress) recording.reset(after.id, failuresToOffline(after))
      }
      if (changes.serversRemoved.length > 0) void recording.forget(changes.serversRemoved.map(server => server.id))
    }
    const unsubscribeStore = store.onChange(applyChanges)
    const unsubscribeResults = monitor.onResult(result => recording.onResult(result))

    let flushedMinute = Math.floor(clock() / STEP_MS['1m'])
    const flushTimer = setInterval(() => {
      const minute = Math.floor(clock() / STEP_MS['1m'])
      if (minute === flushedMinute) return
      flushedMinute = minute
      void recording.flush()
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

    return async () => {
      clearInterval(flushTimer)
      clearInterval(pruneTimer)
      unsubscribeResults()
      unsubscribeStore()
      await pruning
      // The current partial minutes too: a restart (or the next leader) adds the rest of the minute to them.
      await recording.close()
      recorder = null
    }
  })

  fastify.decorate('history', createHistoryQueries(storage, { unwritten: serverId => recorder?.unwritten(serverId) ?? [] }, clock, options.retention))

  fastify.addHook('onClose', async () => {
    await stopLeading()
    await storage.close()
  })
}, {
  name: 'estatus-history',
  fastify: '5.x',
  dependencies: ['estatus-config-store', 'estatus-monitor', 'estatus-leadership']
})
