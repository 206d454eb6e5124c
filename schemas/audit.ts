import { Type, type Static } from '@sinclair/typebox'
import { StringEnum } from './common.ts'

/**
 * SPEC §11's audit: one entry per configuration change — what (kind, id, name), who and from
 * where. Names and ids only: never a field's value, so never a secret.
 */

export const AUDIT_ACTIONS = ['create', 'update', 'delete', 'import', 'replace'] as const
export const AUDIT_KINDS = ['server', 'group', 'channel', 'rule', 'maintenance', 'configuration'] as const

const Count = Type.Integer({ minimum: 0 })

export const AuditEntry = Type.Object({
  at: Type.String({ description: 'when the change was written (ISO 8601)' }),
  actor: Type.String({ description: "a token's name; `anonymous` (access control off), `file` (a hand edit of the data file) or `host` (the host application's own calls)" }),
  address: Type.Union([Type.String(), Type.Null()], { description: "the client's address; null for hand edits and the host" }),
  action: StringEnum(AUDIT_ACTIONS),
  kind: StringEnum(AUDIT_KINDS, { description: '`configuration` for the summary of an import or replace' }),
  id: Type.Union([Type.String(), Type.Null()], { description: "the item's id; null for a summary" }),
  name: Type.Union([Type.String(), Type.Null()], { description: "the item's name; null for a summary" }),
  via: Type.Optional(StringEnum(['import', 'replace'] as const, { description: "an item's change that was part of an import or replace" })),
  counts: Type.Optional(Type.Object({ created: Count, updated: Count, deleted: Count }, { description: 'the summary of an import or replace: items it created, updated and deleted' }))
}, {
  additionalProperties: false,
  examples: [
    { at: '2026-01-31T12:00:00.000Z', actor: 'ops', address: '10.0.0.7', action: 'update', kind: 'server', id: 'server-001', name: 'web-1' },
    { at: '2026-01-31T12:05:00.000Z', actor: 'ops', address: '10.0.0.7', action: 'import', kind: 'configuration', id: null, name: null, counts: { created: 2, updated: 1, deleted: 0 } }
  ]
})
export type AuditEntry = Static<typeof AuditEntry>
