import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Monitor } from '../plugins/monitor/index.ts'
import { ServerStatus } from '../schemas/status.ts'
import { IdParams, Success } from '../schemas/envelope.ts'
import { notFound } from '../lib/errors.ts'

const Summary = Type.Object({
  total: Type.Integer(),
  online: Type.Integer(),
  offline: Type.Integer(),
  uptime: Type.Integer({ description: 'percent of servers online (compat name)' })
})

/** The monitor's view of the servers: `/api/servers…` of SPEC §4. */
const status: FastifyPluginAsyncTypebox = async function (fastify) {
  const monitor = fastify.getDecorator<Monitor>('monitor')

  fastify.get('/api/servers', {
    schema: { response: { 200: Success(Type.Array(ServerStatus)) } }
  }, async () => ({ success: true as const, data: monitor.statuses() }))

  fastify.get('/api/servers/stats/summary', {
    schema: { response: { 200: Success(Summary) } }
  }, async () => {
    const statuses = monitor.statuses()
    const online = statuses.filter(server => server.isOnline).length
    const total = statuses.length
    return {
      success: true as const,
      data: { total, online, offline: total - online, uptime: total === 0 ? 0 : Math.round(online / total * 100) }
    }
  })

  fastify.get('/api/servers/:id', {
    schema: { params: IdParams, response: { 200: Success(ServerStatus) } }
  }, async (request) => {
    const server = monitor.status(request.params.id)
    if (server === undefined) throw notFound('Server not found')
    return { success: true as const, data: server }
  })
}

export default status
