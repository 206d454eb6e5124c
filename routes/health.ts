import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ConfigStore } from '../lib/config-store.ts'
import type { Monitor } from '../plugins/monitor/index.ts'
import type { EventBus } from '../plugins/event-bus.ts'
import type { AccessConfig } from '../plugins/auth.ts'

const Check = Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) })
const StoreCheck = Type.Object({ ...Check.properties, readOnly: Type.Optional(Type.Boolean()) })

const HealthReport = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  timestamp: Type.String(),
  uptime: Type.Number({ description: 'seconds since the process started' }),
  serverCount: Type.Integer(),
  onlineCount: Type.Integer(),
  checks: Type.Object({ store: StoreCheck, icmp: Check, snmp: Check })
})

// Open in every auth mode: load balancers and uptime checks carry no token.
const PUBLIC: AccessConfig = { access: 'public' }

/** `GET /health` (not enveloped): still 200 when degraded, so dashboards can show why. */
const health: FastifyPluginAsyncTypebox = async function (fastify) {
  const store = fastify.getDecorator<ConfigStore>('configStore')
  const monitor = fastify.getDecorator<Monitor>('monitor')
  const bus = fastify.getDecorator<EventBus>('eventBus')
  // Which servers are online, kept from the bus: counting 50,000 statuses on every request
  // would make the cheapest route cost milliseconds.
  const online = new Set(monitor.statuses().filter(status => status.isOnline).map(status => status.id))
  const unsubscribe = bus.subscribe(event => {
    if (event.type === 'statusChange') {
      if (event.update.isOnline) online.add(event.update.serverId)
      else online.delete(event.update.serverId)
    } else if (event.type === 'serverRemoved') {
      online.delete(event.serverId)
    }
  })
  fastify.addHook('onClose', async () => unsubscribe())

  fastify.get('/health', { config: PUBLIC, schema: { response: { 200: HealthReport } } }, async () => {
    const checks = { store: store.health(), ...monitor.health() }
    return {
      status: Object.values(checks).every(check => check.ok) ? 'ok' as const : 'degraded' as const,
      timestamp: new Date().toISOString(),
      uptime: Math.round(process.uptime()),
      serverCount: store.servers().length,
      onlineCount: online.size,
      checks
    }
  })
}

export default health
