import {
  ServerInput, GroupInput, StoreDocument,
  type ServerConfig, type GroupConfig
} from '../schemas/config.ts'
import { ValidationError, conflict, invalid, type FieldErrors } from './errors.ts'
import { normalizeGroupInput, normalizeServerInput } from './normalize.ts'
import { checker, createAjv } from './validation.ts'
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

/** The validators of client input and of whole stored documents, over one Ajv. */
export function createValidators () {
  const ajv = createAjv()
  const checkServerInput = checker(ajv, ServerInput)
  const checkGroupInput = checker(ajv, GroupInput)
  const checkDocumentShape = checker(ajv, StoreDocument)

  /** A stored document: shape, per-item rules, unique ids and names, known references. */
  function checkDocument (value: unknown): StoreDocument {
    checkNesting(value)
    const document = checkDocumentShape(value)
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
    return document
  }

  return {
    parseServer: (input: unknown): ServerInput => checkServerInput(normalizeServerInput(copyInput(input))),
    parseGroup: (input: unknown): GroupInput => checkGroupInput(normalizeGroupInput(copyInput(input))),
    checkDocument
  }
}
