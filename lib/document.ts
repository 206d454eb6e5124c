import type { TSchema } from '@sinclair/typebox'
import type { Ajv } from 'ajv'
import {
  ServerInput, GroupInput, StoreDocument,
  type ServerConfig, type GroupConfig
} from '../schemas/config.ts'
import { AlertRuleInput, CHANNEL_TYPES, ChannelInput, ChannelVariant, MaintenanceInput, type Channel, type ChannelType } from '../schemas/alerts.ts'
import { ValidationError, conflict, invalid, type FieldErrors } from './errors.ts'
import { isObject, normalizeAlertInput, normalizeGroupInput, normalizeServerInput } from './normalize.ts'
import { checker, createAjv, inSchemaOrder } from './validation.ts'
import { COLLECTIONS, COLLECTION_KEYS, type CollectionInput, type CollectionKey } from './store/collections.ts'
import { nextSerial } from './store/ids.ts'
import { positionOf } from './store/lookup.ts'

/** Deeper than any valid server, group or document (they nest 4 levels), with room to spare. */
export const MAX_NESTING = 32

/**
 * Refuses input nested deeper than MAX_NESTING before anything recursive (structuredClone,
 * a deep freeze) walks it: 10,000 levels would overflow the stack there. With its own
 * stack, so the check itself never recurses; the field named is the top-level one.
 */
export function checkNesting (input: unknown) {
  const stack: Array<[object, number, string]> = []
  const push = (value: unknown, depth: number, field: string) => {
    if (typeof value !== 'object' || value === null) return
    if (depth > MAX_NESTING) throw invalid(field, `is nested too deeply (more than ${MAX_NESTING} levels)`)
    stack.push([value, depth, field])
  }
  push(input, 1, 'body')
  while (stack.length > 0) {
    const [node, depth, field] = stack.pop()!
    for (const key in node) if (Object.hasOwn(node, key)) push((node as Record<string, unknown>)[key], depth + 1, depth === 1 ? key : field)
  }
}

/** A private copy of caller input, so the caller keeps its object and schema defaults stay out of it. */
export function copyInput (input: unknown): unknown {
  checkNesting(input)
  return structuredClone(input)
}

/**
 * Group names compare Unicode-normalised (NFKC) and case-folded: `Ｗｅｂ` is `Web`, `Straße`
 * is `STRASSE`. Upper- then lower-casing folds what plain lower-casing leaves apart (ß → ss).
 */
export const groupNameKey = (name: string) => name.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC')

/** Rules the schema cannot express. */
export function checkServerRules (server: ServerConfig, root = '') {
  const at = (field: string) => (root ? `${root}.${field}` : field)
  const fields: FieldErrors = {}
  const { netapp, snmp } = server
  if (netapp?.enabled) {
    if (!netapp.username) fields[at('netapp.username')] = 'is required when netapp is enabled'
    if (!netapp.password) fields[at('netapp.password')] = 'is required when netapp is enabled'
    if (netapp.luns.length === 0) fields[at('netapp.luns')] = 'must list at least one LUN when netapp is enabled'
  }
  if (snmp && new Set(snmp.disks.map(disk => disk.index)).size !== snmp.disks.length) {
    fields[at('snmp.disks')] = 'must not list the same index twice'
  }
  if (Object.keys(fields).length > 0) throw new ValidationError(fields)
}

function checkGroupServers (group: GroupConfig, document: StoreDocument, root: string) {
  const unknown = group.serverIds.filter(id => positionOf(document.servers, id) === -1)
  if (unknown.length > 0) throw invalid(root ? `${root}.serverIds` : 'serverIds', `unknown server ids: ${unknown.join(', ')}`)
}

const nameTaken = (name: string) => conflict(`A group named '${name}' already exists`)

export function checkGroupRules (group: GroupConfig, document: StoreDocument) {
  checkGroupServers(group, document, '')
  const name = groupNameKey(group.name)
  const clash = document.groups.find(other => other.id !== group.id && groupNameKey(other.name) === name)
  if (clash) throw nameTaken(clash.name)
}

/**
 * A channel checked against the variant its `type` names: an unknown type gets one readable
 * error, a known one that variant's errors only (a plain union would report all four).
 */
function channelChecker<T> (ajv: Ajv, variants: Record<ChannelType, TSchema>): (value: unknown, root?: string) => T {
  const checks = new Map(CHANNEL_TYPES.map(type => [type as string, checker(ajv, variants[type])]))
  return (value, root = '') => {
    const check = isObject(value) && typeof value.type === 'string' ? checks.get(value.type) : undefined
    if (check !== undefined) return check(value, root) as T
    if (!isObject(value)) throw invalid(root || 'body', 'must be an object')
    throw invalid(root ? `${root}.type` : 'type', value.type === undefined ? `is required: one of ${CHANNEL_TYPES.join(', ')}` : `must be one of: ${CHANNEL_TYPES.join(', ')}`)
  }
}

/** What version 2 added: a version-1 document must not carry it (it would be a half-made migration). */
const ADDED_IN_V2 = ['nextChannelId', 'nextRuleId', 'nextMaintenanceId', 'channels', 'alertRules', 'maintenance']

/**
 * A version-1 document (SPEC §3.1 before the alerts) as version 2: the same servers and
 * groups, no alert configuration. Anything else it carries stays, for the check to name.
 */
function migrated (value: unknown): unknown {
  if (!isObject(value) || value.version !== 1) return value
  const { version: _version, nextServerId, nextGroupId, servers, groups, ...rest } = value
  const added = ADDED_IN_V2.filter(field => field in rest)
  if (added.length > 0) throw new ValidationError(Object.fromEntries(added.map(field => [field, 'is not a field of a version-1 document (set "version" to 2)'])))
  return { version: 2, nextServerId, nextGroupId, nextChannelId: 1, nextRuleId: 1, nextMaintenanceId: 1, servers, groups, channels: [], alertRules: [], maintenance: [], ...rest }
}

/** The fields in the order the data file has them, whatever order a hand edit or an import used. */
const inFileOrder = (document: StoreDocument): StoreDocument => ({
  version: document.version,
  nextServerId: document.nextServerId,
  nextGroupId: document.nextGroupId,
  nextChannelId: document.nextChannelId,
  nextRuleId: document.nextRuleId,
  nextMaintenanceId: document.nextMaintenanceId,
  servers: document.servers,
  groups: document.groups,
  channels: document.channels,
  alertRules: document.alertRules,
  maintenance: document.maintenance
})

/** The validators of client input and of whole stored documents, over one Ajv. */
export function createValidators () {
  const ajv = createAjv()
  const checkServerInput = checker(ajv, ServerInput)
  const checkGroupInput = checker(ajv, GroupInput)
  const checkDocumentShape = checker(ajv, StoreDocument)
  const checkStoredChannel = channelChecker<Channel>(ajv, ChannelVariant)
  const checkChannelInput = channelChecker<ChannelInput>(ajv, ChannelInput)
  const checkRuleInput = checker(ajv, AlertRuleInput)
  const checkMaintenanceInput = checker(ajv, MaintenanceInput)
  const itemInputChecks: { [K in CollectionKey]: (value: unknown) => CollectionInput<K> } = {
    channels: value => { const channel = checkChannelInput(value); return inSchemaOrder(channel, ChannelInput[channel.type]) },
    alertRules: value => inSchemaOrder(checkRuleInput(value), AlertRuleInput),
    maintenance: value => inSchemaOrder(checkMaintenanceInput(value), MaintenanceInput)
  }

  /** A stored document (version 1 is migrated): shape, per-item rules, unique ids and names, known references. */
  function checkDocument (value: unknown): StoreDocument {
    checkNesting(value)
    const candidate = migrated(value)
    // Each channel first, against its own variant: the document's union would report all four.
    if (isObject(candidate) && Array.isArray(candidate.channels)) candidate.channels.forEach((channel, i) => checkStoredChannel(channel, `channels.${i}`))
    const document = inFileOrder(checkDocumentShape(candidate))
    const seen = new Set<string>()
    document.servers.forEach((server, i) => {
      if (seen.has(server.id)) throw invalid(`servers.${i}.id`, `duplicate server id '${server.id}'`)
      seen.add(server.id)
      checkServerRules(server, `servers.${i}`)
    })
    const groupIds = new Set<string>()
    const names = new Map<string, string>()
    document.groups.forEach((group, i) => {
      if (groupIds.has(group.id)) throw invalid(`groups.${i}.id`, `duplicate group id '${group.id}'`)
      groupIds.add(group.id)
      checkGroupServers(group, document, `groups.${i}`)
      const clash = names.get(groupNameKey(group.name))
      if (clash !== undefined) throw nameTaken(clash)
      names.set(groupNameKey(group.name), group.name)
    })
    // Ids stay monotonic even if a hand edit lowered the counters; counters stay safe (ids.ts).
    document.nextServerId = nextSerial(document.nextServerId, seen, 'server')
    document.nextGroupId = nextSerial(document.nextGroupId, groupIds, 'group')
    for (const key of COLLECTION_KEYS) {
      const spec = COLLECTIONS[key]
      const ids = new Set<string>()
      document[key].forEach((item, i) => {
        if (ids.has(item.id)) throw invalid(`${key}.${i}.id`, `duplicate id '${item.id}'`)
        ids.add(item.id)
        ;(spec.check as (item: unknown, document: StoreDocument, root: string) => void)(item, document, `${key}.${i}`)
      })
      document[spec.counter] = nextSerial(document[spec.counter], ids, spec.idKind)
    }
    return document
  }

  /** A channel, alert rule or maintenance window as a client sends it, normalised and checked. */
  function parseItem<K extends CollectionKey> (key: K, input: unknown): CollectionInput<K> {
    return itemInputChecks[key](normalizeAlertInput(copyInput(input))) as CollectionInput<K>
  }

  return {
    parseServer: (input: unknown): ServerInput => checkServerInput(normalizeServerInput(copyInput(input))),
    parseGroup: (input: unknown): GroupInput => checkGroupInput(normalizeGroupInput(copyInput(input))),
    parseItem,
    checkDocument
  }
}
