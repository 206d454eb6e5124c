import { Type, type Static } from '@sinclair/typebox'

export const DiskInfo = Type.Object({
  total: Type.Integer({ description: 'MiB' }),
  used: Type.Integer({ description: 'MiB' }),
  free: Type.Integer({ description: 'MiB' }),
  percentage: Type.Integer({ minimum: 0, maximum: 100 }),
  description: Type.Optional(Type.String()),
  index: Type.Optional(Type.Integer()),
  name: Type.Optional(Type.String()),
  source: Type.Union([Type.Literal('snmp'), Type.Literal('netapp')])
}, { additionalProperties: false })
export type DiskInfo = Static<typeof DiskInfo>

export const ServerStatus = Type.Object({
  id: Type.String(),
  name: Type.String(),
  ip: Type.String(),
  isOnline: Type.Boolean(),
  consecutiveSuccesses: Type.Integer({ minimum: 0, maximum: 1000 }),
  consecutiveFailures: Type.Integer({ minimum: 0, maximum: 1000 }),
  // ISO dates; both start at the moment monitoring of the server began.
  lastChecked: Type.String(),
  lastStatusChange: Type.String(),
  diskInfo: Type.Union([Type.Array(DiskInfo), Type.Null()]),
  responseTimeMs: Type.Optional(Type.Number()),
  lastError: Type.Optional(Type.String()),
  // Present (true) only while a maintenance window covers the server (SPEC §10).
  maintenance: Type.Optional(Type.Boolean())
}, { additionalProperties: false })
export type ServerStatus = Static<typeof ServerStatus>
