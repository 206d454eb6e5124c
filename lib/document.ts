import {
  ServerInput, GroupInput, StoreDocument,
  type ServerConfig, type GroupConfig
} from '../schemas/config.ts'
import { ValidationError, conflict, invalid, type FieldErrors } from './errors.ts'
import { normalizeGroupInput, normalizeServerInput } from './normalize.ts'
import { checker, createAjv } from './validation.ts'

const GENERATED_SERVER_ID = /^server-(\d+)$/
const GENERATED_GROUP_ID = /^group-(\d+)$/

/** The highest serial among generated-looking ids, so counters never hand one out again. */
export function nextSerial (current: number, ids: Iterable<string>, kind: 'server' | 'group'): number {
  return Math.max(current, highestSerial(ids, kind === 'server' ? GENERATED_SERVER_ID : GENERATED_GROUP_ID) + 1)
}

function highestSerial (ids: Iterable<string>, pattern: RegExp): number {
  let highest = 0
  for (const id of ids) {
    const match = pattern.exec(id)
    if (match) highest = Math.max(highest, Number(match[1]))
  }
  return highest
}

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

export function checkGroupRules (group: GroupConfig, document: StoreDocument, root = '') {
  const known = new Set(document.servers.map(server => server.id))
  const unknown = group.serverIds.filter(id => !known.has(id))
  if (unknown.length > 0) throw invalid(root ? `${root}.serverIds` : 'serverIds', `unknown server ids: ${unknown.join(', ')}`)
  const name = group.name.toLowerCase()
  const clash = document.groups.find(other => other.id !== group.id && other.name.toLowerCase() === name)
  if (clash) throw conflict(`A group named '${clash.name}' already exists`)
}

/** The validators of client input and of whole stored documents, over one Ajv. */
export function createValidators () {
  const ajv = createAjv()
  const checkServerInput = checker(ajv, ServerInput)
  const checkGroupInput = checker(ajv, GroupInput)
  const checkDocumentShape = checker(ajv, StoreDocument)

  /** A stored document: shape, per-item rules, unique ids and names, known references. */
  function checkDocument (value: unknown): StoreDocument {
    const document = checkDocumentShape(value)
    const seen = new Set<string>()
    document.servers.forEach((server, i) => {
      if (seen.has(server.id)) throw invalid(`servers.${i}.id`, `duplicate server id '${server.id}'`)
      seen.add(server.id)
      checkServerRules(server, `servers.${i}`)
    })
    const groupIds = new Set<string>()
    document.groups.forEach((group, i) => {
      if (groupIds.has(group.id)) throw invalid(`groups.${i}.id`, `duplicate group id '${group.id}'`)
      groupIds.add(group.id)
      checkGroupRules(group, document, `groups.${i}`)
    })
    // Ids stay monotonic even if a hand edit lowered the counters.
    document.nextServerId = nextSerial(document.nextServerId, seen, 'server')
    document.nextGroupId = nextSerial(document.nextGroupId, groupIds, 'group')
    return document
  }

  return {
    // Cloned first: the caller keeps its object, and schema defaults are not written into it.
    parseServer: (input: unknown): ServerInput => checkServerInput(normalizeServerInput(structuredClone(input))),
    parseGroup: (input: unknown): GroupInput => checkGroupInput(normalizeGroupInput(structuredClone(input))),
    checkDocument
  }
}
