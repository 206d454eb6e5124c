import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { PublicServerConfig, type ServerConfig } from '../schemas/config.ts'
import { Deleted, Success, IdParams, IfMatch } from '../schemas/envelope.ts'
import { itemNotFound } from '../lib/errors.ts'
import type { ConfigStore } from '../lib/config-store.ts'
import { toPublicServer } from '../lib/normalize.ts'
import type { AccessControl } from '../plugins/auth.ts'

/** `/api/config/servers` of SPEC §4. The body is validated by the store, which the host API shares. */
const configServers: FastifyPluginAsyncTypebox = async function (fastify) {
  const store = fastify.getDecorator<ConfigStore>('configStore')
  const { originOf } = fastify.getDecorator<AccessControl>('accessControl')

  // The list is serialized once per configuration version, from items serialized once each:
  // with 50,000 servers it is megabytes, and a change touches one item.
  const listBodies = new WeakMap<readonly ServerConfig[], string>()
  const itemBodies = new WeakMap<ServerConfig, string>()
  const itemBody = (server: ServerConfig) => {
    let body = itemBodies.get(server)
    if (body === undefined) itemBodies.set(server, body = JSON.stringify(toPublicServer(server)))
    return body
  }

  fastify.get('/api/config/servers', {
    schema: { response: { 200: Success(Type.Array(PublicServerConfig)) } }
  }, async (_request, reply) => {
    const servers = store.servers()
    let body = listBodies.get(servers)
    if (body === undefined) listBodies.set(servers, body = `{"success":true,"data":[${servers.map(itemBody).join(',')}]}`)
    // A string is sent as it is: it was built from the same public view the schema describes.
    return reply.type('application/json; charset=utf-8').send(body as never)
  })

  fastify.get('/api/config/servers/:id', {
    schema: { params: IdParams, response: { 200: Success(PublicServerConfig) } }
  }, async (request, reply) => {
    const server = store.server(request.params.id)
    if (server === undefined) throw itemNotFound('Server', request.params.id)
    reply.header('etag', store.etag(server))
    return { success: true as const, data: toPublicServer(server) }
  })

  fastify.post('/api/config/servers', {
    schema: { response: { 201: Success(PublicServerConfig) } }
  }, async (request, reply) => {
    const { value } = await store.createServer(request.body, { origin: originOf(request) })
    reply.code(201).header('etag', store.etag(value))
    return { success: true as const, data: toPublicServer(value) }
  })

  fastify.put('/api/config/servers/:id', {
    schema: { params: IdParams, headers: IfMatch, response: { 200: Success(PublicServerConfig) } }
  }, async (request, reply) => {
    const { value } = await store.updateServer(request.params.id, request.body, { ifMatch: request.headers['if-match'], origin: originOf(request) })
    reply.header('etag', store.etag(value))
    return { success: true as const, data: toPublicServer(value) }
  })

  fastify.delete('/api/config/servers/:id', {
    schema: { params: IdParams, headers: IfMatch, response: { 200: Success(Deleted) } }
  }, async (request) => {
    const { value } = await store.deleteServer(request.params.id, { ifMatch: request.headers['if-match'], origin: originOf(request) })
    return { success: true as const, data: value }
  })
}

export default configServers
