import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { GroupConfig, ReassignMode } from '../schemas/config.ts'
import { GroupDeleted, Success, IdParams, IfMatch } from '../schemas/envelope.ts'
import { itemNotFound } from '../lib/errors.ts'
import type { ConfigStore } from '../lib/config-store.ts'
import type { AccessControl } from '../plugins/auth.ts'

/** `/api/config/groups` of SPEC §4. */
const configGroups: FastifyPluginAsyncTypebox = async function (fastify) {
  const store = fastify.getDecorator<ConfigStore>('configStore')
  const { originOf } = fastify.getDecorator<AccessControl>('accessControl')

  fastify.get('/api/config/groups', {
    schema: { response: { 200: Success(Type.Array(GroupConfig)) } }
  }, async () => ({ success: true as const, data: store.groups() }))

  fastify.get('/api/config/groups/:id', {
    schema: { params: IdParams, response: { 200: Success(GroupConfig) } }
  }, async (request, reply) => {
    const group = store.group(request.params.id)
    if (group === undefined) throw itemNotFound('Group', request.params.id)
    reply.header('etag', store.etag(group))
    return { success: true as const, data: group }
  })

  fastify.post('/api/config/groups', {
    schema: { response: { 201: Success(GroupConfig) } }
  }, async (request, reply) => {
    const { value } = await store.createGroup(request.body, { origin: originOf(request) })
    reply.code(201).header('etag', store.etag(value))
    return { success: true as const, data: value }
  })

  fastify.put('/api/config/groups/:id', {
    schema: { params: IdParams, headers: IfMatch, response: { 200: Success(GroupConfig) } }
  }, async (request, reply) => {
    const { value } = await store.updateGroup(request.params.id, request.body, { ifMatch: request.headers['if-match'], origin: originOf(request) })
    reply.header('etag', store.etag(value))
    return { success: true as const, data: value }
  })

  fastify.delete('/api/config/groups/:id', {
    schema: {
      params: IdParams,
      headers: IfMatch,
      querystring: Type.Object({ reassign: Type.Optional(ReassignMode) }),
      response: { 200: Success(GroupDeleted) }
    }
  }, async (request) => {
    const { value } = await store.deleteGroup(request.params.id, {
      reassign: request.query.reassign,
      ifMatch: request.headers['if-match'],
      origin: originOf(request)
    })
    return { success: true as const, data: value }
  })
}

export default configGroups
