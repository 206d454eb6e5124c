import fp from 'fastify-plugin'
import type { ConfigStore, ChangeSet } from '../../lib/config-store.ts'
import type { Monitor, MonitorResult } from '../monitor/index.ts'
import type { HistoryQueries } from '../history/queries.ts'
import type { AlertOutbox } from './types.ts'
import { createAlertEngine } from './engine.ts'
import type { Leadership } from '../leadership.ts'

export interface AlertingOptions {
  /** The default failures in a row to go offline (a server's own `consecutiveFailures` wins). */
  threshold: number
  /** Time source of the rules and windows; tests drive it. */
  clock?: () => number
  /** How often windows, `forSeconds`, storm holds and re-notifications are checked. */
  tickMs?: number
  /** How long a `down` waits for its group to storm (see storm.ts). */
  holdMs?: number
}

/** A forecast moves slowly (hourly maxima over 14 days): read at most this often per server. */
const FORECAST_EVERY_MS = 3_600_000

/**
 * SPEC §10's rules engine: turns the monitor's results into alerts for the outbox. Flips
 * and disk readings are evaluated as they come; a tick every second handles what time
 * alone changes (forSeconds, storm holds, re-notifications, maintenance windows).
 */
export default fp<AlertingOptions>(async function alertingPlugin (fastify, options) {
  const store = fastify.getDecorator<ConfigStore>('configStore')
  const monitor = fastify.getDecorator<Monitor>('monitor')
  const outbox = fastify.getDecorator<AlertOutbox>('alertOutbox')
  // Without history (ESTATUS_HISTORY=off) there is no forecast: days-to-full rules never fire.
  const history = fastify.hasDecorator('history') ? fastify.getDecorator<HistoryQueries>('history') : null
  const log = fastify.log.child({ plugin: 'alerting' })
  const clock = options.clock ?? Date.now
  const enqueued = new Set<Promise<void>>()

  const leadership = fastify.getDecorator<Leadership>('leadership')

  /** Offline counts once the monitor has decided it: a new server starts offline without having gone down. */
  function decidedOffline (id: string) {
    const server = store.server(id)
    const failures = monitor.status(id)?.consecutiveFailures ?? 0
    return server !== undefined && failures >= (server.consecutiveFailures ?? options.threshold)
  }

  // The rules run on the leader (SPEC §12): a new leader restores what was sent from the alert log, like a restart.
  const stopLeading = await leadership.whileLeading('alert rules', async () => {
    const engine = createAlertEngine({
      config: store,
      directory: { servers: () => store.servers(), server: id => store.server(id), groups: () => store.document().groups },
      clock,
      holdMs: options.holdMs,
      send (alert, channelIds) {
        log.info({ alertId: alert.id, kind: alert.kind, rule: alert.rule.id, serverId: alert.server.id, storm: alert.storm?.group.id }, alert.message)
        const done = outbox.enqueue(alert, channelIds)
          .catch(err => log.error({ err, alertId: alert.id }, 'could not put an alert into the outbox'))
          .finally(() => enqueued.delete(done))
        enqueued.add(done)
      },
      setMaintenance: (id, inside) => monitor.setMaintenance(id, inside)
    })

    const forecastAt = new Map<string, number>()
    function refreshForecast (id: string) {
      const now = clock()
      if (history === null || now - (forecastAt.get(id) ?? -Infinity) < FORECAST_EVERY_MS || !engine.wantsForecast(id)) return
      forecastAt.set(id, now)
      history.forecasts(id).then(
        forecasts => engine.forecasts(id, new Map([...forecasts].map(([disk, forecast]) => [disk, forecast?.daysToFull ?? null]))),
        err => log.error({ err, serverId: id }, 'could not read the disk forecast')
      )
    }

    function onResult (result: MonitorResult) {
      if (result.kind === 'ping') {
        if (result.isOnline) engine.availability(result.serverId, true)
        else if (!engine.knownDown(result.serverId) && decidedOffline(result.serverId)) engine.availability(result.serverId, false)
        return
      }
      engine.disks(result.serverId, result.diskInfo)
      refreshForecast(result.serverId)
    }

    function applyChanges (changes: ChangeSet) {
      for (const server of changes.serversRemoved) {
        engine.forget(server.id)
        forecastAt.delete(server.id)
      }
      for (const { before, after } of changes.serversUpdated) {
        if (before.dnsAddress !== after.dnsAddress) engine.reset(after.id)
      }
    }

    // What was sent before a restart: no second `down` for a server still down, an `up` for one back.
    engine.restore(await outbox.openAlerts())
    const unsubscribeResults = monitor.onResult(onResult)
    const unsubscribeStore = store.onChange(applyChanges)
    engine.tick()
    const timer = setInterval(() => {
      try {
        engine.tick()
      } catch (err) {
        log.error({ err }, 'alert rules: a tick failed')
      }
    }, options.tickMs ?? 1000)
    timer.unref()

    return async () => {
      clearInterval(timer)
      unsubscribeResults()
      unsubscribeStore()
      // Alerts raised until now reach the outbox before it closes (it is closed after us).
      await Promise.all(enqueued)
    }
  })

  fastify.addHook('onClose', stopLeading)
}, {
  name: 'estatus-alerting',
  fastify: '5.x',
  dependencies: ['estatus-config-store', 'estatus-monitor', 'estatus-alert-outbox', 'estatus-leadership']
})
