import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { IdParams, Success } from '../schemas/envelope.ts'
import { AlertLogEntry, AlertsQuery, DeliveryOutcome } from '../schemas/alerts.ts'
import { itemNotFound } from '../lib/errors.ts'
import { logQuery } from '../lib/date-range.ts'
import type { AlertConfig, AlertOutbox } from '../plugins/alerts/types.ts'

const DEFAULT_WINDOW_MS = 30 * 86_400_000

/** The alert log and the channel test of SPEC §10; the channels are read from the config store. */
const alertRoutes: FastifyPluginAsyncTypebox = async function (fastify) {
  const config = fastify.getDecorator<AlertConfig>('configStore')
  const outbox = fastify.getDecorator<AlertOutbox>('alertOutbox')

  fastify.get('/api/alerts', {
    schema: { querystring: AlertsQuery, response: { 200: Success(Type.Array(AlertLogEntry)) } }
  }, async (request) => {
    return { success: true as const, data: await outbox.list(logQuery(request.query, Date.now(), DEFAULT_WINDOW_MS)) }
  })

  fastify.post('/api/config/channels/:id/test', {
    schema: { params: IdParams, response: { 200: Success(DeliveryOutcome) } }
  }, async (request) => {
    const channel = config.channel(request.params.id)
    if (channel === undefined) throw itemNotFound('Channel', request.params.id)
    return { success: true as const, data: await outbox.test(channel) }
  })
}

export default alertRoutes
