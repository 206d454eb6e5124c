import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { Success } from '../schemas/envelope.ts'
import { AuditEntry } from '../schemas/audit.ts'
import { LogQuery } from '../schemas/history.ts'
import { dateRange } from '../lib/date-range.ts'
import { AUDIT_RETENTION_MS, type AuditLog } from '../plugins/audit/index.ts'
import type { AccessConfig } from '../plugins/auth.ts'

const DEFAULT_LIMIT = 100
const adminUnlessOff: AccessConfig = { access: 'admin-unless-off' }

/** `GET /api/audit` of SPEC §11: by default everything kept (400 days), newest first, 100 entries. */
const auditRoutes: FastifyPluginAsyncTypebox<{ clock: () => number }> = async function (fastify, options) {
  const audit = fastify.getDecorator<AuditLog>('auditLog')

  fastify.get('/api/audit', {
    config: adminUnlessOff,
    schema: { querystring: LogQuery, response: { 200: Success(Type.Array(AuditEntry)) } }
  }, async request => {
    const { from, to } = dateRange(request.query, options.clock(), AUDIT_RETENTION_MS)
    return { success: true as const, data: await audit.list({ from, to, limit: Number(request.query.limit ?? DEFAULT_LIMIT) }) }
  })
}

export default auditRoutes
