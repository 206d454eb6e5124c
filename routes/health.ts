import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AccessConfig } from '../plugins/auth.ts'

const Check = Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) })

const HealthReport = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  timestamp: Type.String(),
  uptime: Type.Number({ description: 'seconds since the process started' }),
  serverCount: Type.Integer(),
  onlineCount: Type.Integer(),
  checks: Type.Object({ store: Check, icmp: Check, snmp: Check })
})

// Open in every auth mode: load balancers and uptime checks carry no token.
const PUBLIC: AccessConfig = { access: 'public' }

/** `GET /health` (not enveloped): still 200 when degraded, so dashboards can show why. */
const health: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.get('/health', { config: PUBLIC, schema: { response: { 200: HealthReport } } }, async () => {
    const checks = { store: fastify.configStore.health(), ...fastify.monitor.health() }
    const statuses = fastify.monitor.statuses()
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
