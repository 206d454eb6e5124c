import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { StoreDocument } from '../schemas/config.ts'
import { Success } from '../schemas/envelope.ts'
import { importedDocument, maskSecrets } from '../lib/backup.ts'
import type { ConfigStore } from '../lib/config-store.ts'
import type { AccessConfig } from '../plugins/auth.ts'

const admin: AccessConfig = { access: 'admin' }

const DOCUMENT_EXAMPLE = {
  version: 2,
  nextServerId: 2,
  nextGroupId: 2,
  nextChannelId: 2,
  nextRuleId: 2,
  nextMaintenanceId: 2,
  servers: [{ id: 'server-001', name: 'web-1', ip: '10.1.2.3', dnsAddress: 'web-1.example.net', snmp: { enabled: true, community: '********', disks: [{ index: 31, name: 'C:' }] } }],
  groups: [{ id: 'group-1', name: 'Web servers', order: 1, serverIds: ['server-001'], rowNumber: 1, rowOrder: 1 }],
  channels: [{ id: 'channel-1', name: 'On call', type: 'webhook', url: 'https://hooks.example.net/estatus', secret: '********' }],
  alertRules: [{ id: 'rule-1', name: 'Web down', enabled: true, scope: { serverIds: [], groupIds: ['group-1'] }, on: ['down', 'up'], forSeconds: 60, renotifyMinutes: 0, channelIds: ['channel-1'] }],
  maintenance: [{ id: 'maintenance-1', name: 'Patch night', scope: { serverIds: ['server-001'], groupIds: [] }, start: '2025-01-07T22:00:00Z', end: '2025-01-08T00:00:00Z', repeat: { every: 'week' } }]
}

const ImportReport = Type.Object({
  servers: Type.Integer({ description: 'servers in the configuration now' }),
  groups: Type.Integer(),
  channels: Type.Integer(),
  alertRules: Type.Integer(),
  maintenance: Type.Integer(),
  added: Type.Integer({ description: 'servers added' }),
  updated: Type.Integer({ description: 'servers changed' }),
  removed: Type.Integer({ description: 'servers removed' }),
  groupsChanged: Type.Boolean()
}, { examples: [{ servers: 1, groups: 1, channels: 1, alertRules: 1, maintenance: 1, added: 1, updated: 0, removed: 0, groupsChanged: true }] })

/** Backup and restore of the whole configuration (SPEC §11). */
const configBackup: FastifyPluginAsyncTypebox = async function (fastify) {
  const store = fastify.getDecorator<ConfigStore>('configStore')

  fastify.get('/api/config/export', {
    config: admin,
    schema: {
      tags: ['backup'],
      summary: 'The whole configuration as one document',
      description: 'Secrets are masked unless `secrets=include`. The `data` is what POST /api/config/import and `npm run import -- --file` take.',
      querystring: Type.Object({ secrets: Type.Optional(Type.Union([Type.Literal('include'), Type.Literal('mask')], { default: 'mask' })) }),
      response: { 200: Success({ ...StoreDocument, examples: [DOCUMENT_EXAMPLE] }) }
    }
  }, async (request, reply) => {
    const document = store.document()
    const data = request.query.secrets === 'include' ? document : maskSecrets(document)
    // Plain JSON.stringify, not the schema's serializer, which would put keys in schema order:
    // the export keeps the file's order, so a restore is byte for byte.
    return reply
      .type('application/json; charset=utf-8')
      .header('content-disposition', 'attachment; filename="estatus-config.json"')
      .serializer(JSON.stringify)
      .send({ success: true as const, data })
  })

  fastify.post('/api/config/import', {
    config: admin,
    schema: {
      tags: ['backup'],
      summary: 'Replace the whole configuration in one write',
      description: 'Takes an exported document (or the whole export answer), version 2 or (migrated) version 1. It is validated as a stored document, then replaces the configuration in one atomic write; the usual per-item events are published (for servers and groups: the alert configuration has none). Masked secrets keep the stored value of the same server or channel id.',
      body: Type.Unknown({ examples: [DOCUMENT_EXAMPLE] }),
      response: { 200: Success(ImportReport) }
    }
  }, async request => {
    const { value, changes } = await store.replace(importedDocument(request.body, { server: id => store.server(id), channel: id => store.channel(id) }))
    return {
      success: true as const,
      data: {
        servers: value.servers.length,
        groups: value.groups.length,
        channels: value.channels.length,
        alertRules: value.alertRules.length,
        maintenance: value.maintenance.length,
        added: changes.serversAdded.length,
        updated: changes.serversUpdated.length,
        removed: changes.serversRemoved.length,
        groupsChanged: changes.groups !== null
      }
    }
  })
}

export default configBackup
