import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ConfigStore } from '../lib/config-store.ts'
import type { Monitor } from '../plugins/monitor/index.ts'

const Check = Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) })

const HealthReport = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  timestamp: Type.String(),
  uptime: Type.Number({ description: 'seconds since the process started' }),
  serverCount: Type.Integer(),
  onlineCount: Type.Integer(),
  checks: Type.Object({ store: Check, icmp: Check, snmp: Check })
})

/** `GET /health` (not enveloped): still 200 when degraded, so dashboards can show why. */
const health: FastifyPluginAsyncTypebox = async function (fastify) {
  const store = fastify.getDecorator<ConfigStore>('configStore')
  const monitor = fastify.getDecorator<Monitor>('monitor')
  fastify.get('/health', { schema: { response: { 200: HealthReport } } }, async () => {
    const checks = { store: store.health(), ...monitor.health() }
    const statuses = monitor.statuses()
    return {
      status: Object.values(checks).every(check => check.ok) ? 'ok' as const : 'degraded' as const,
      timestamp: new Date().toISOString(),
      uptime: Math.round(process.uptime()),
      serverCount: statuses.length,
      onlineCount: statuses.filter(server => server.isOnline).length,
      checks
    }
  })
}

export default health
