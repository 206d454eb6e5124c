import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { Success } from '../schemas/envelope.ts'
import { AuditEntry } from '../schemas/audit.ts'
import { LogQuery } from '../schemas/history.ts'
import { logQuery } from '../lib/date-range.ts'
import { LOG_RETENTION_MS } from '../lib/pruning.ts'
import type { AuditLog } from '../plugins/audit/index.ts'
import type { AccessConfig } from '../plugins/auth.ts'
const adminUnlessOff: AccessConfig = { access: 'admin-unless-off' }

/** `GET /api/audit` of SPEC §11: by default everything kept (400 days), newest first, 100 entries. */
const auditRoutes: FastifyPluginAsyncTypebox<{ clock: () => number }> = async function (fastify, options) {
  const audit = fastify.getDecorator<AuditLog>('auditLog')

  fastify.get('/api/audit', {
    config: adminUnlessOff,
    schema: { querystring: LogQuery, response: { 200: Success(Type.Array(AuditEntry)) } }
  }, async request => {
    return { success: true as const, data: await audit.list(logQuery(request.query, options.clock(), LOG_RETENTION_MS)) }
  })
}

export default auditRoutes
