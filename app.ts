import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import { dirname, join, resolve } from 'node:path'
import { readFileSync } from 'node:fs'
import configStore from './plugins/config-store.ts'
import apiEnvelope from './plugins/api-envelope.ts'
import eventBus, { type EventBus, type EventListener } from './plugins/event-bus.ts'
import configEvents from './plugins/config-events.ts'
import cluster from './plugins/cluster.ts'
import leadership from './plugins/leadership.ts'
import monitor, { type Monitor } from './plugins/monitor/index.ts'
import sse, { type EventStreams } from './plugins/sse.ts'
import auth from './plugins/auth.ts'
import hostCheck from './plugins/auth-host-check.ts'
import openApi from './plugins/openapi.ts'
import metrics from './plugins/metrics.ts'
import configBackup from './routes/config-backup.ts'
import authTokens from './routes/auth-tokens.ts'
import { defaultTokensFile } from './lib/access-tokens.ts'
import status from './routes/status.ts'
import configServers from './routes/config-servers.ts'
import configGroups from './routes/config-groups.ts'
import configAlerts from './routes/config-alerts.ts'
import health from './routes/health.ts'
import history from './plugins/history/index.ts'
import historyRoutes from './routes/history.ts'
import alertOutbox from './plugins/alerts/outbox.ts'
import alerting from './plugins/alerts/alerting.ts'
import alertRoutes from './routes/alerts.ts'
import audit from './plugins/audit/index.ts'
import auditRoutes from './routes/audit.ts'
import { resolveOptions, type EstatusOptions } from './lib/options.ts'
import { importAtStart } from './lib/legacy-import.ts'
import type { ConfigStore } from './lib/config-store.ts'

export { EstatusOptionsSchema, type EstatusOptions } from './lib/options.ts'
export type { ConfigStore, ChangeSet, Mutation, ItemCollection, CollectionKey, CollectionItem, ChangeOrigin } from './lib/config-store.ts'
export type { EventListener } from './plugins/event-bus.ts'
export type { Monitor, MonitorResult } from './plugins/monitor/index.ts'
export * from './schemas/config.ts'
export * from './schemas/alerts.ts'
export * from './schemas/status.ts'
export * from './schemas/events.ts'
export * from './schemas/audit.ts'

// From the sources (app.ts) and from the build (dist/app.js) alike.
const { version } = JSON.parse(readFileSync(new URL(import.meta.url.endsWith('.ts') ? './package.json' : '../package.json', import.meta.url), 'utf8')) as { version: string }

/** The host's side of the events: it listens; only the plugin's parts publish. */
export interface EstatusEvents {
  /** Every state change of SPEC §5 as it happens; returns the unsubscribe function. */
  subscribe (listener: EventListener): () => void
  /** Open `GET /api/events` streams. */
  readonly clientCount: number
}

/** What the host application gets as `fastify.estatus`: the only decorator it sees. */
export interface EstatusApi {
  /** Read and change the configuration, with the API's validation and events. */
  readonly store: ConfigStore
  readonly events: EstatusEvents
  /** Current status of every server. */
  readonly monitor: Monitor
}

declare module 'fastify' {
  interface FastifyInstance {
    estatus: EstatusApi
  }
}

/**
 * The embeddable root plugin. Its parts are encapsulated in one child scope (mounted at
 * `prefix` when given), so our error handler, validator and parsers never touch the
 * host's routes; the host sees a single `estatus` decorator.
 */
async function estatus (fastify: import('fastify').FastifyInstance, options: EstatusOptions) {
  const settings = resolveOptions(options)
  let api: EstatusApi | undefined

  await fastify.register(async function estatusScope (scope) {
    if (settings.corsOrigin !== undefined) {
      // The methods of the API, and ETag readable by the page, so it can send If-Match.
      await scope.register(cors, { origin: settings.corsOrigin, methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'], exposedHeaders: ['ETag'] })
    }
    // Cluster mode first: the store, the bus and the leader lease are built on it.
    if (settings.databaseUrl !== undefined) await scope.register(cluster, { url: settings.databaseUrl })
    await scope.register(configStore, { file: resolve(settings.dataFile), watchFile: settings.watchDataFile })
    await scope.register(eventBus)
    // In cluster mode the store commits a change's events with it (lib/cluster/config-log.ts).
    if (settings.databaseUrl === undefined) await scope.register(configEvents)
    await scope.register(leadership)
    // Before every route: the guard and the document generator see each one as it is added.
    await scope.register(auth, {
      mode: settings.auth,
      tokensFile: resolve(settings.tokensFile ?? defaultTokensFile(resolve(settings.dataFile))),
      maxFailures: settings.authMaxFailures
    })
    await scope.register(hostCheck, { allowedHosts: settings.allowedHosts })
    if (settings.openapi) await scope.register(openApi, { prefix: settings.prefix, version })
    await scope.register(monitor, {
      pingIntervalMs: settings.pingIntervalMs,
      pingTimeoutMs: settings.pingTimeoutMs,
      threshold: settings.threshold,
      fpingPath: settings.fpingPath,
      diskIntervalMs: settings.diskIntervalMs,
      snmpPort: settings.snmpPort,
      snmpCommunity: settings.snmpCommunity,
      netappPort: settings.netappPort,
      probe: settings.monitor
    })
    const historyFile = resolve(settings.historyFile ?? join(dirname(settings.dataFile), 'history.sqlite'))
    if (settings.history) {
      await scope.register(history, {
        file: historyFile,
        threshold: settings.threshold,
        clock: settings.historyClock,
        retention: {
          minutesMs: settings.retainMinutesH * 3_600_000,
          hoursMs: settings.retainHoursD * 86_400_000,
          daysMs: settings.retainDaysD === 0 ? null : settings.retainDaysD * 86_400_000
        }
      })
    }
    // Alerts are delivered with history off too: the outbox opens the database file regardless.
    await scope.register(alertOutbox, { file: historyFile, ...settings.alertDelivery })
    // The audit too (SPEC §11), before the import below so that it is recorded.
    await scope.register(audit, { file: historyFile, clock: settings.auditClock })
    // After the history (its forecast feeds the days-to-full rule) and the outbox it fills.
    await scope.register(alerting, { threshold: settings.threshold, clock: settings.alertsClock })
    await scope.register(sse, { heartbeatMs: settings.heartbeatMs, replayEvents: settings.replayEvents, maxBufferedBytes: settings.sseMaxBufferedBytes })
    await scope.register(metrics)
    // After every subscriber is in place, so an import is published and probed like any change.
    const store = scope.getDecorator<ConfigStore>('configStore')
    if (settings.importFrom) await importAtStart(store, settings.importFrom, scope.log)
    await scope.register(apiEnvelope)
    await scope.register(configServers)
    await scope.register(configGroups)
    await scope.register(configAlerts)
    await scope.register(status)
    await scope.register(health)
    if (settings.history) await scope.register(historyRoutes, { clock: settings.historyClock ?? Date.now })
    await scope.register(alertRoutes)
    await scope.register(configBackup)
    await scope.register(authTokens)
    await scope.register(auditRoutes, { clock: settings.auditClock ?? Date.now })
    const bus = scope.getDecorator<EventBus>('eventBus')
    const streams = scope.getDecorator<EventStreams>('eventStreams')
    api = {
      store,
      events: { subscribe: listener => bus.subscribe(listener), get clientCount () { return streams.clientCount } },
      monitor: scope.getDecorator<Monitor>('monitor')
    }
  }, { prefix: settings.prefix })

  fastify.decorate('estatus', api as EstatusApi)
}

export default fp(estatus, { name: 'fastify-estatus', fastify: '5.x' })
