import { Type, type Static } from '@sinclair/typebox'
import { ItemId, StringEnum } from './common.ts'
import { AlertRule, Channel, MaintenanceWindow } from './alerts.ts'

export { StringEnum, SECRET_MASK } from './common.ts'

const octet = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
export const IPV4_PATTERN = `^(${octet}\\.){3}${octet}$`

// `errorMessage` is read by lib/validation.ts in place of the generic keyword message.
const ServerName = Type.String({ minLength: 1, maxLength: 50 })
const Ipv4 = Type.String({ pattern: IPV4_PATTERN, errorMessage: 'Invalid IPv4 address' })
/** What a client may send as a probe target (format checked by lib/validation.ts isProbeTarget). */
const ProbeTarget = Type.String({
  minLength: 1,
  maxLength: 253,
  format: 'probe-target',
  errorMessage: 'must be a hostname (dot-separated labels of letters, digits and "-", the last not a number) or an IP address (IPv4 without leading zeros, or IPv6)'
})
/**
 * The looser rule of earlier versions, for data files: a file written before the rule
 * above still loads (an address it no longer allows must be fixed at the next edit).
 * Still never an option for a probe program.
 */
const StoredProbeTarget = Type.String({ minLength: 1, maxLength: 253, pattern: '^(?!-)[A-Za-z0-9._:%-]+$' })
const Threshold = Type.Integer({ minimum: 1, maximum: 10 })
export const ServerId = ItemId

export const SnmpDisk = Type.Object({
  index: Type.Integer({ minimum: 0, maximum: 2147483647 }),
  name: Type.Optional(Type.String({ maxLength: 50 }))
}, { additionalProperties: false })

export const SnmpConfig = Type.Object({
  enabled: Type.Boolean(),
  community: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  disks: Type.Array(SnmpDisk, { maxItems: 16, default: [] })
}, { additionalProperties: false })
export type SnmpConfig = Static<typeof SnmpConfig>

export const NetappLun = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  // `/vol/v/lun`, or `svm:/vol/v/lun` where the same path exists in two SVMs.
  path: Type.String({ minLength: 2, maxLength: 255, pattern: '^([A-Za-z0-9_.-]+:)?/', errorMessage: 'must be a LUN path starting with "/" (or "svm:/")' })
}, { additionalProperties: false })

export const NetappConfig = Type.Object({
  enabled: Type.Boolean(),
  apiType: StringEnum(['rest', 'zapi'] as const, { default: 'rest' }),
  username: Type.Optional(Type.String({ maxLength: 128 })),
  password: Type.Optional(Type.String({ maxLength: 256 })),
  luns: Type.Array(NetappLun, { maxItems: 16, default: [] }),
  verifyTls: Type.Optional(Type.Boolean())
}, { additionalProperties: false })
export type NetappConfig = Static<typeof NetappConfig>

const serverFields = {
  name: ServerName,
  ip: Ipv4,
  dnsAddress: StoredProbeTarget,
  consecutiveSuccesses: Type.Optional(Threshold),
  consecutiveFailures: Type.Optional(Threshold),
  snmp: Type.Optional(SnmpConfig),
  netapp: Type.Optional(NetappConfig)
}

/** A server as a client sends it, after the aliases of SPEC §3.3 are normalised. */
export const ServerInput = Type.Object({
  id: Type.Optional(ServerId),
  ...serverFields,
  dnsAddress: ProbeTarget
}, { additionalProperties: false })
export type ServerInput = Static<typeof ServerInput>

/** A server as stored in the data file (secrets in clear). */
export const ServerConfig = Type.Object({
  id: ServerId,
  ...serverFields
}, { additionalProperties: false })
export type ServerConfig = Static<typeof ServerConfig>

/** A server as sent to clients: secrets masked, plus the compat mirrors of SPEC §3.4. */
export const PublicServerConfig = Type.Object({
  id: ServerId,
  ...serverFields,
  dns: Type.String(),
  snmpConfig: Type.Optional(Type.Object({
    enabled: Type.Boolean(),
    community: Type.Optional(Type.String()),
    storageIndexes: Type.Array(Type.Integer()),
    diskNames: Type.Array(Type.String())
  }))
}, { additionalProperties: false })
export type PublicServerConfig = Static<typeof PublicServerConfig>

export const GROUP_NAME_PATTERN = "^[\\p{L}\\p{N} _.()\\[\\]{}&,'#:!?/-]+$"
const RowIndex = Type.Integer({ minimum: 1, maximum: 100 })
const GroupOrder = Type.Integer({ minimum: 1, maximum: 1000 })

const groupFields = {
  name: Type.String({
    minLength: 1,
    maxLength: 50,
    pattern: GROUP_NAME_PATTERN,
    errorMessage: "may contain only letters, digits, spaces and -_.()[]{}&,'#:!?/"
  }),
  order: Type.Optional(GroupOrder),
  serverIds: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { uniqueItems: true, maxItems: 10000, default: [] }),
  rowNumber: Type.Optional(RowIndex),
  rowOrder: Type.Optional(RowIndex)
}

/** A group as a client sends it, after legacy `row`/`position` are migrated. */
export const GroupInput = Type.Object({
  id: Type.Optional(Type.String({ maxLength: 64 })),
  ...groupFields
}, { additionalProperties: false })
export type GroupInput = Static<typeof GroupInput>

export const GroupConfig = Type.Object({
  id: Type.String(),
  ...groupFields,
  order: GroupOrder,
  rowNumber: RowIndex,
  rowOrder: RowIndex
}, { additionalProperties: false })
export type GroupConfig = Static<typeof GroupConfig>

const Counter = Type.Integer({ minimum: 1 })

/** The document as versions before the alerts wrote it; migrated on load (lib/document.ts). */
export const StoreDocumentV1 = Type.Object({
  version: Type.Literal(1),
  nextServerId: Counter,
  nextGroupId: Counter,
  servers: Type.Array(ServerConfig),
  groups: Type.Array(GroupConfig)
}, { additionalProperties: false })
export type StoreDocumentV1 = Static<typeof StoreDocumentV1>

/** The one document of SPEC §3.1, with the alert configuration of SPEC §10 (version 2). */
export const StoreDocument = Type.Object({
  version: Type.Literal(2),
  nextServerId: Counter,
  nextGroupId: Counter,
  nextChannelId: Counter,
  nextRuleId: Counter,
  nextMaintenanceId: Counter,
  servers: Type.Array(ServerConfig),
  groups: Type.Array(GroupConfig),
  channels: Type.Array(Channel),
  alertRules: Type.Array(AlertRule),
  maintenance: Type.Array(MaintenanceWindow)
}, { additionalProperties: false })
export type StoreDocument = Static<typeof StoreDocument>

export const ReassignMode = StringEnum(['unassign', 'default'] as const)
export type ReassignMode = Static<typeof ReassignMode>
