/**
 * The alert outbox on a bare Fastify instance, its channels read from a plain array through a
 * stand-in for the config store (AlertConfig), and every log line kept for inspection.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Alert, Channel } from '../../schemas/alerts.ts'
import type { AlertConfig, AlertOutbox } from '../../plugins/alerts/types.ts'
import alertOutbox, { type AlertOutboxOptions } from '../../plugins/alerts/outbox.ts'

/** An AlertConfig over `channels` (edit the array to change the configuration). */
export const stubAlertConfig = (channels: Channel[]) => fp(async function stubConfigStore (fastify) {
  const config: AlertConfig = {
    channels: () => channels,
    channel: id => channels.find(channel => channel.id === id),
    alertRules: () => [],
    maintenanceWindows: () => []
  }
  fastify.decorate('configStore', config)
}, { name: 'estatus-config-store' })

export interface OutboxApp {
  app: FastifyInstance
  outbox: AlertOutbox
  /** Every log line written so far (level trace). */
  logs: string[]
}

export async function startOutbox (options: AlertOutboxOptions & { channels: Channel[] }): Promise<OutboxApp> {
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } } })
  await app.register(stubAlertConfig(options.channels))
  await app.register(alertOutbox, options)
  await app.ready()
  return { app, outbox: app.getDecorator<AlertOutbox>('alertOutbox'), logs }
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
