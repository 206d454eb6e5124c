import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import { dirname, join, resolve } from 'node:path'
import configStore from './plugins/config-store.ts'
import apiEnvelope from './plugins/api-envelope.ts'
import eventBus, { type EventBus } from './plugins/event-bus.ts'
import configEvents from './plugins/config-events.ts'
import monitor, { type Monitor } from './plugins/monitor/index.ts'
import sse from './plugins/sse.ts'
import status from './routes/status.ts'
import configServers from './routes/config-servers.ts'
import configGroups from './routes/config-groups.ts'
import health from './routes/health.ts'
import history from './plugins/history/index.ts'
import historyRoutes from './routes/history.ts'
import { resolveOptions, type EstatusOptions } from './lib/options.ts'
import { importAtStart } from './lib/legacy-import.ts'
import type { ConfigStore } from './lib/config-store.ts'

export type { EstatusOptions } from './lib/options.ts'
export type { ConfigStore, ChangeSet, Mutation } from './lib/config-store.ts'
export type { EventBus } from './plugins/event-bus.ts'
export type { Monitor } from './plugins/monitor/index.ts'
export * from './schemas/config.ts'
export * from './schemas/status.ts'
export * from './schemas/events.ts'

/** What the host application gets as `fastify.estatus`. */
export interface EstatusApi {
  /** Read and change the configuration, with the API's validation and events. */
  store: ConfigStore
  /** Subscribe to the typed events of SPEC §5 (publishing is for the plugin's parts). */
  events: EventBus
  /** Current status of every server. */
  monitor: Monitor
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
      await scope.register(cors, { origin: settings.corsOrigin })
    }
    await scope.register(configStore, { file: resolve(settings.dataFile), watchFile: settings.watchDataFile })
    await scope.register(eventBus)
    await scope.register(configEvents)
    await scope.register(monitor, {
      pingIntervalMs: settings.pingIntervalMs,
      pingTimeoutMs: settings.pingTimeoutMs,
      threshold: settings.threshold,
      fpingPath: settings.fpingPath,
      diskIntervalMs: settings.diskIntervalMs,
      snmpPort: settings.snmpPort,
      snmpCommunity: settings.snmpCommunity,
      netappPort: settings.netappPort
    })
    if (settings.history) {
      await scope.register(history, {
        file: resolve(settings.historyFile ?? join(dirname(settings.dataFile), 'history.sqlite')),
        threshold: settings.threshold,
        clock: settings.historyClock,
        retention: {
          minutesMs: settings.retainMinutesH * 3_600_000,
          hoursMs: settings.retainHoursD * 86_400_000,
          daysMs: settings.retainDaysD === 0 ? null : settings.retainDaysD * 86_400_000
        }
      })
    }
    await scope.register(sse, { heartbeatMs: settings.heartbeatMs, replayEvents: settings.replayEvents, maxBufferedBytes: settings.sseMaxBufferedBytes })
    // After every subscriber is in place, so an import is published and probed like any change.
    if (settings.importFrom) await importAtStart(scope.configStore, settings.importFrom, scope.log)
    await scope.register(apiEnvelope)
    await scope.register(configServers)
    await scope.register(configGroups)
    await scope.register(status)
    await scope.register(health)
    if (settings.history) await scope.register(historyRoutes, { clock: settings.historyClock ?? Date.now })
    api = { store: scope.configStore, events: scope.eventBus, monitor: scope.monitor }
  }, { prefix: settings.prefix })

  fastify.decorate('estatus', api as EstatusApi)
}

export default fp(estatus, { name: 'fastify-estatus', fastify: '5.x' })
