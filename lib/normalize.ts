import { SECRET_MASK, type ServerConfig, type PublicServerConfig, type GroupConfig } from '../schemas/config.ts'
import { CHANNEL_SECRETS } from '../schemas/alerts.ts'
import { invalid } from './errors.ts'

type Json = Record<string, unknown>

export const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const trimmed = (value: unknown) => (typeof value === 'string' ? value.trim() : value)

/** An empty name means "no name" (the browser form sends "" for unnamed disks). */
const optionalName = (value: unknown) => (value === '' || value === null || value === undefined ? undefined : value)

/**
 * Turns the browser's `{storageIndexes, diskNames}` shape into `disks`.
 * The values are kept as they come, so the schema names whatever is wrong with them.
 */
function disksFrom (source: Json, field: string): unknown {
  const indexes = source.storageIndexes
  if (!Array.isArray(indexes)) throw invalid(`${field}.storageIndexes`, 'must be an array')
  const names = source.diskNames ?? []
  if (!Array.isArray(names)) throw invalid(`${field}.diskNames`, 'must be an array')
  return indexes.map((index, i) => dropUndefined({ index, name: optionalName(names[i]) }))
}

export function dropUndefined<T extends Json> (object: T): T {
  for (const key of Object.keys(object)) if (object[key] === undefined) delete object[key]
  return object
}

function normalizeSnmp (value: unknown, field: string): unknown {
  if (!isObject(value)) return value
  const { storageIndexes, diskNames, ...snmp } = value
  // The edit form sends `disks: []` beside the indexes a user typed without naming disks:
  // the indexes are not dropped (SPEC §3.3, fix). Named disks always win.
  const typedOnly = Array.isArray(snmp.disks) && snmp.disks.length === 0 && Array.isArray(storageIndexes) && storageIndexes.length > 0
  if ((snmp.disks === undefined && storageIndexes !== undefined) || typedOnly) snmp.disks = disksFrom({ storageIndexes, diskNames }, field)
  if (Array.isArray(snmp.disks)) snmp.disks = snmp.disks.map(disk => (isObject(disk) ? dropUndefined({ ...disk, name: optionalName(disk.name) }) : disk))
  if (snmp.community === '') delete snmp.community
  return dropUndefined(snmp)
}

/**
 * Normalises the three shapes the browser app sends a server in (SPEC §3.3) to the
 * canonical one. A canonical field wins over its alias; aliases are always dropped, so a
 * client can send back what a GET returned.
 */
export function normalizeServerInput (body: unknown): unknown {
  if (!isObject(body)) return body
  const { dns, snmpConfig, netappConfig, ...server } = body
  if (server.dnsAddress === undefined && dns !== undefined) server.dnsAddress = dns
  if (server.snmp === undefined && snmpConfig !== undefined) {
    server.snmp = isObject(snmpConfig) ? normalizeSnmp({ ...snmpConfig, disks: undefined }, 'snmpConfig') : snmpConfig
  } else {
    server.snmp = normalizeSnmp(server.snmp, 'snmp')
  }
  if (server.netapp === undefined && netappConfig !== undefined) server.netapp = netappConfig
  if (server.id === '') delete server.id
  for (const key of ['name', 'ip', 'dnsAddress'] as const) server[key] = trimmed(server[key])
  return dropUndefined(server)
}

/**
 * A channel, alert rule or maintenance window as sent (SPEC §10): the name trimmed, `id: ""`
 * meaning "generate one" and an empty secret meaning "keep the stored one", as for servers.
 */
export function normalizeAlertInput (body: unknown): unknown {
  if (!isObject(body)) return body
  const item: Json = { ...body, name: trimmed(body.name) }
  if (item.id === '') delete item.id
  for (const field of CHANNEL_SECRETS) if (item[field] === '') delete item[field]
  return dropUndefined(item)
}

const LEGACY_POSITION_ORDER = new Map([['left', 1], ['right', 2]])

/** Trims the name and migrates legacy `row`/`position` (SPEC §3.5) to rowNumber/rowOrder. */
export function normalizeGroupInput (body: unknown): unknown {
  if (!isObject(body)) return body
  const { row, position, ...group } = body
  if (row !== undefined) {
    if (!Number.isInteger(row) || (row as number) < 1 || (row as number) > 4) throw invalid('row', 'must be an integer from 1 to 4')
    group.rowNumber ??= row
  }
  if (position !== undefined) {
    const order = LEGACY_POSITION_ORDER.get(String(position))
    if (order === undefined || typeof position !== 'string') throw invalid('position', 'must be one of: left, right')
    group.rowOrder ??= order
  }
  group.name = trimmed(group.name)
  return group
}

const isKeptSecret = (value: unknown) => value === undefined || value === '' || value === SECRET_MASK

/** The secret to store: the one sent, or the stored one when it comes back masked, empty or absent. */
export const keptSecret = <T>(sent: T | undefined, stored: T | undefined) => (isKeptSecret(sent) ? stored : sent)

/**
 * On update a secret that comes back masked, empty or absent keeps the stored one
 * (SPEC §3.4), so the unchanged browser form round-trips.
 */
export function keepStoredSecrets (next: ServerConfig, stored: ServerConfig | undefined): ServerConfig {
  const result = { ...next }
  if (result.snmp) {
    result.snmp = dropUndefined({ ...result.snmp, community: keptSecret(result.snmp.community, stored?.snmp?.community) })
  }
  if (result.netapp) {
    result.netapp = dropUndefined({ ...result.netapp, password: keptSecret(result.netapp.password, stored?.netapp?.password) })
  }
  return result
}

export const mask = (secret: string | undefined) => (secret ? SECRET_MASK : undefined)

/** The server as every client sees it: secrets masked, compat mirrors added (SPEC §3.4). */
export function toPublicServer (server: ServerConfig): PublicServerConfig {
  const snmp = server.snmp && dropUndefined({ ...server.snmp, community: mask(server.snmp.community) })
  const netapp = server.netapp && dropUndefined({ ...server.netapp, password: mask(server.netapp.password) })
  const snmpConfig = snmp && dropUndefined({
    enabled: snmp.enabled,
    community: snmp.community,
    storageIndexes: snmp.disks.map(disk => disk.index),
    diskNames: snmp.disks.map(disk => disk.name ?? '')
  })
  return dropUndefined({ ...server, snmp, netapp, dns: server.dnsAddress, snmpConfig })
}

/** Groups in display order: by `order`, then by creation. */
export function sortGroups (groups: readonly GroupConfig[]): GroupConfig[] {
  const serial = (id: string) => Number(/(\d+)$/.exec(id)?.[1] ?? 0)
  return [...groups].sort((a, b) => a.order - b.order || serial(a.id) - serial(b.id))
}
