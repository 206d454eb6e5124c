/**
 * The alert outbox on a bare Fastify instance, its channels read from a plain array through a
 * stand-in for the config store (AlertConfig), and every log line kept for inspection.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Alert, Channel } from '../../schemas/alerts.ts'
import type { AlertConfig, AlertOutbox, ConfigChanges } from '../../plugins/alerts/types.ts'
import type { AuditListener } from '../../lib/store/types.ts'
import alertOutbox, { type AlertOutboxOptions } from '../../plugins/alerts/outbox.ts'
import eventBus from '../../plugins/event-bus.ts'
import leadership from '../../plugins/leadership.ts'

/**
 * An AlertConfig over `channels` (edit the array to change the configuration, then call
 * `changed` with the channel's id, as the store reports an edit to its audit listeners).
 */
export function stubAlertConfig (channels: Channel[]) {
  const listeners = new Set<AuditListener>()
  const plugin = fp(async function stubConfigStore (fastify) {
    const config: AlertConfig & ConfigChanges = {
      channels: () => channels,
      channel: id => channels.find(channel => channel.id === id),
      alertRules: () => [],
      maintenanceWindows: () => [],
      onAudit (listener) {
        listeners.add(listener)
        return () => listeners.delete(listener)
      }
    }
    fastify.decorate('configStore', config)
  }, { name: 'estatus-config-store' })
  const changed = (id: string) => {
    for (const listener of listeners) {
      listener({ action: 'update', origin: { actor: 'test', address: null }, items: [{ action: 'update', kind: 'channel', id, name: id }] })
    }
  }
  return { plugin, changed }
}

export interface OutboxApp {
  app: FastifyInstance
  outbox: AlertOutbox
  /** Every log line written so far (level trace). */
  logs: string[]
  /** Reports an edit of the channel, as the store does. */
  changed (channelId: string): void
}

export async function startOutbox (options: AlertOutboxOptions & { channels: Channel[] }): Promise<OutboxApp> {
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } } })
  const config = stubAlertConfig(options.channels)
  await app.register(config.plugin)
  // The outbox delivers while its node leads: outside cluster mode, always.
  await app.register(eventBus)
  await app.register(leadership)
  await app.register(alertOutbox, options)
  await app.ready()
  return { app, outbox: app.getDecorator<AlertOutbox>('alertOutbox'), logs, changed: config.changed }
}

let serial = 0
/** A `down` alert for server `web-<n>`. */
export function downAlert (n = ++serial, overrides: Partial<Alert> = {}): Alert {
  const at = new Date().toISOString()
  return {
    id: `alert-${process.pid}-${n}-${Date.now()}`,
    kind: 'down',
    rule: { id: 'rule-1', name: 'Servers down' },
    server: { id: `server-${n}`, name: `web-${n}`, ip: `10.0.0.${n % 250}` },
    groups: ['Rack A'],
    at,
    since: at,
    durationSeconds: 0,
    message: `web-${n} (10.0.0.${n % 250}) is down`,
    ...overrides
  }
}
