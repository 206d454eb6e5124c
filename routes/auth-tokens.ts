import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CreatedToken, TokenInfo, TokenInput } from '../schemas/auth.ts'
import { Deleted, IdParams, Success } from '../schemas/envelope.ts'
import type { AccessConfig, AccessControl } from '../plugins/auth.ts'

const admin: AccessConfig = { access: 'admin' }

/** `/api/auth/tokens`: admins manage the access tokens (SPEC §11). */
const authTokens: FastifyPluginAsyncTypebox = async function (fastify) {
  const { tokens } = fastify.getDecorator<AccessControl>('accessControl')

  fastify.get('/api/auth/tokens', {
    config: admin,
    schema: { tags: ['auth'], summary: 'Every access token (never the secret nor its hash)', response: { 200: Success(Type.Array(TokenInfo)) } }
  }, async () => ({ success: true as const, data: tokens.list() }))

  fastify.post('/api/auth/tokens', {
    config: admin,
    schema: {
      tags: ['auth'],
      summary: 'Make a token; its secret is in this answer only',
      body: TokenInput,
      response: { 201: Success(CreatedToken) }
    }
  }, async (request, reply) => {
    const created = await tokens.create(request.body)
    request.log.info({ tokenId: created.id, name: created.name, role: created.role }, 'access token created')
    return reply.code(201).send({ success: true as const, data: created })
  })

  fastify.delete('/api/auth/tokens/:id', {
    config: admin,
    schema: { tags: ['auth'], summary: 'Revoke a token (by id or name); it stops working at once', params: IdParams, response: { 200: Success(Deleted) } }
  }, async request => {
    const revoked = await tokens.revoke(request.params.id)
    request.log.info({ tokenId: revoked.id, name: revoked.name }, 'access token revoked')
    return { success: true as const, data: { deletedId: revoked.id } }
  })
}

export default authTokens
