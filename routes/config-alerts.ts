import { Type, type TSchema } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AlertRule, Channel, MaintenanceWindow } from '../schemas/alerts.ts'
import { Deleted, Success, IdParams, IfMatch } from '../schemas/envelope.ts'
import { itemNotFound } from '../lib/errors.ts'
import type { CollectionKey, ConfigStore } from '../lib/config-store.ts'

/** The alert configuration's lists and the schema of one item as sent (secrets masked). */
const LISTS: ReadonlyArray<{ key: CollectionKey, path: string, schema: TSchema }> = [
  { key: 'channels', path: '/api/config/channels', schema: Channel },
  { key: 'alertRules', path: '/api/config/alert-rules', schema: AlertRule },
  { key: 'maintenance', path: '/api/config/maintenance', schema: MaintenanceWindow }
]

/**
 * The CRUD routes of SPEC §10's configuration, the same for the three lists: enveloped, with
 * ETags and If-Match as for servers. Bodies are validated by the store, which the host API shares.
 */
const configAlerts: FastifyPluginAsyncTypebox = async function (fastify) {
  const store = fastify.getDecorator<ConfigStore>('configStore')

  for (const { key, path, schema } of LISTS) {
    const items = store.collection(key)
    // The stored item's type varies with `key`; every answer goes through `view` (secrets masked).
    const view = items.view as (item: unknown) => unknown

    fastify.get(path, {
      schema: { response: { 200: Success(Type.Array(schema)) } }
    }, async () => ({ success: true as const, data: items.list().map(view) }))

    fastify.get(`${path}/:id`, {
      schema: { params: IdParams, response: { 200: Success(schema) } }
    }, async (request, reply) => {
      const item = items.get(request.params.id)
      if (item === undefined) throw itemNotFound(items.label, request.params.id)
      reply.header('etag', store.etag(item))
      return { success: true as const, data: view(item) }
    })

    fastify.post(path, {
      schema: { response: { 201: Success(schema) } }
    }, async (request, reply) => {
      const { value } = await items.create(request.body)
      reply.code(201).header('etag', store.etag(value))
      return { success: true as const, data: view(value) }
    })

    fastify.put(`${path}/:id`, {
      schema: { params: IdParams, headers: IfMatch, response: { 200: Success(schema) } }
    }, async (request, reply) => {
      const { value } = await items.update(request.params.id, request.body, { ifMatch: request.headers['if-match'] })
      reply.header('etag', store.etag(value))
      return { success: true as const, data: view(value) }
    })

    fastify.delete(`${path}/:id`, {
      schema: { params: IdParams, headers: IfMatch, response: { 200: Success(Deleted) } }
    }, async (request) => {
      const { value } = await items.delete(request.params.id, { ifMatch: request.headers['if-match'] })
      return { success: true as const, data: value }
    })
  }
}

export default configAlerts
