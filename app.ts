import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import { resolve } from 'node:path'
import { readFileSync } from 'node:fs'
import configStore from './plugins/config-store.ts'
import apiEnvelope from './plugins/api-envelope.ts'
import eventBus, { type EventBus } from './plugins/event-bus.ts'
import configEvents from './plugins/config-events.ts'
import monitor, { type Monitor } from './plugins/monitor.ts'
import sse from './plugins/sse.ts'
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
import health from './routes/health.ts'
import { resolveOptions, type EstatusOptions } from './lib/options.ts'
import { importAtStart } from './lib/legacy-import.ts'
import type { ConfigStore } from './lib/config-store.ts'

export type { EstatusOptions } from './lib/options.ts'
export type { ConfigStore, ChangeSet, Mutation } from './lib/config-store.ts'
export type { EventBus } from './plugins/event-bus.ts'
export type { Monitor } from './plugins/monitor.ts'
export * from './schemas/config.ts'
export * from './schemas/status.ts'
export * from './schemas/events.ts'

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string }

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
      netappPort: settings.netappPort
    })
    await scope.register(sse, { heartbeatMs: settings.heartbeatMs, replayEvents: settings.replayEvents, maxBufferedBytes: settings.sseMaxBufferedBytes })
    await scope.register(metrics)
    // After every subscriber is in place, so an import is published and probed like any change.
    if (settings.importFrom) await importAtStart(scope.configStore, settings.importFrom, scope.log)
    await scope.register(apiEnvelope)
    await scope.register(configServers)
    await scope.register(configGroups)
    await scope.register(status)
    await scope.register(health)
    await scope.register(configBackup)
    await scope.register(authTokens)
    api = { store: scope.configStore, events: scope.eventBus, monitor: scope.monitor }
  }, { prefix: settings.prefix })

  fastify.decorate('estatus', api as EstatusApi)
}

export default fp(estatus, { name: 'fastify-estatus', fastify: '5.x' })
