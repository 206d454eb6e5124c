/**
 * The store's mutations as pure functions: `(document, input) → {document, value, changes}`.
 * They never touch the document they get (committed documents are frozen) and never do
 * I/O; the write queue applies them in order and persists the result. Input arrives parsed
 * (schema-checked and normalised); the rules that need the document are checked here.
 */
import type { StoreDocument, ServerConfig, GroupConfig, ServerInput, GroupInput, ReassignMode } from '../../schemas/config.ts'
import { conflict, invalid, itemNotFound } from '../errors.ts'
import { keepStoredSecrets, sortGroups } from '../normalize.ts'
import { checkGroupRules, checkServerRules } from '../document.ts'
import { withoutScoped } from '../alert-config.ts'
import { COLLECTIONS, type CollectionInput, type CollectionItem, type CollectionKey, type CollectionSpec } from './collections.ts'
import { ifMatchAllows, type StoredItem } from './etag.ts'
import { generateId, nextSerial, type IdKind } from './ids.ts'
import { positionOf, withItem } from './lookup.ts'
import { noChanges, type Applied, type ChangeSet, type Precondition } from './types.ts'

export interface ItemChange<Body> extends Precondition { id: string, body: Body }
export interface ItemRemoval extends Precondition { id: string }

/** The item a change is about, and where it stands: 404 when it is gone, 409 when If-Match is stale. */
function locate<T extends StoredItem> (items: readonly T[], id: string, what: string, precondition: Precondition): { index: number, item: T } {
  const index = positionOf(items, id)
  if (index === -1) throw itemNotFound(what, id)
  const item = items[index]!
  if (!ifMatchAllows(precondition.ifMatch, item)) {
    throw conflict(`${what} with ID '${id}' was changed by someone else (If-Match does not match); reload and try again`)
  }
  return { index, item }
}

/** An update body may carry the id, but only the one in the URL. */
export function checkBodyId (bodyId: string | undefined, id: string) {
  if (bodyId !== undefined && bodyId !== id) throw invalid('id', `must match the URL ('${id}')`)
}

function completeServer (body: ServerInput, id: string, stored?: ServerConfig): ServerConfig {
  const { id: _bodyId, ...fields } = body
  const server = keepStoredSecrets({ id, ...fields }, stored)
  checkServerRules(server)
  return server
}

/** A new item's id: the one the client picked (409 when taken), else the next generated one; and the counter after it. */
function newId (items: readonly StoredItem[], requested: string | undefined, kind: IdKind, counter: number, what: string): { id: string, next: number } {
  if (requested === undefined) return generateId(kind, counter, taken => positionOf(items, taken) !== -1)
  if (positionOf(items, requested) !== -1) throw conflict(`${what} with ID '${requested}' already exists`)
  // A client may pick an id that looks generated: the counter moves past it (ids.ts).
  return { id: requested, next: nextSerial(counter, [requested], kind) }
}

export function createServer (document: StoreDocument, body: ServerInput): Applied<ServerConfig> {
  const { id, next: nextServerId } = newId(document.servers, body.id, 'server', document.nextServerId, 'Server')
  const server = completeServer(body, id)
  return {
    document: { ...document, nextServerId, servers: withItem(document.servers, server) },
    value: server,
    changes: { ...noChanges(), serversAdded: [server] }
  }
}

export function updateServer (document: StoreDocument, { id, body, ifMatch }: ItemChange<ServerInput>): Applied<ServerConfig> {
  checkBodyId(body.id, id)
  const { index, item: before } = locate(document.servers, id, 'Server', { ifMatch })
  const after = completeServer(body, id, before)
  return {
    document: { ...document, servers: withItem(document.servers, after, index) },
    value: after,
    changes: { ...noChanges(), serversUpdated: [{ before, after }] }
  }
}

export function deleteServer (document: StoreDocument, { id, ifMatch }: ItemRemoval): Applied<{ deletedId: string }> {
  const { index, item: removed } = locate(document.servers, id, 'Server', { ifMatch })
  let groupsTouched = false
  const groups = document.groups.map(group => {
    if (!group.serverIds.includes(id)) return group
    groupsTouched = true
    return { ...group, serverIds: group.serverIds.filter(serverId => serverId !== id) }
  })
  return {
    document: {
      ...document,
      servers: document.servers.toSpliced(index, 1),
      groups: groupsTouched ? groups : document.groups,
      ...withoutScoped(document, 'serverIds', id)
    },
    value: { deletedId: id },
    changes: { ...noChanges(), serversRemoved: [removed], groups: groupsTouched ? sortGroups(groups) : null }
  }
}

function withGroups<T> (document: StoreDocument, groups: GroupConfig[], value: T): Applied<T> {
  return { document: { ...document, groups }, value, changes: { ...noChanges(), groups: sortGroups(groups) } }
}

export function createGroup (document: StoreDocument, body: GroupInput): Applied<GroupConfig> {
  const lastOrder = Math.max(0, ...document.groups.map(group => group.order))
  const { id, next } = generateId('group', document.nextGroupId, taken => positionOf(document.groups, taken) !== -1)
  const group: GroupConfig = {
    id,
    name: body.name,
    order: body.order ?? Math.min(lastOrder + 1, 1000),
    serverIds: body.serverIds,
    rowNumber: body.rowNumber ?? 1,
    rowOrder: body.rowOrder ?? 1
  }
  checkGroupRules(group, document)
  return withGroups({ ...document, nextGroupId: next }, withItem(document.groups, group), group)
}

export function updateGroup (document: StoreDocument, { id, body, ifMatch }: ItemChange<GroupInput>): Applied<GroupConfig> {
  checkBodyId(body.id, id)
  const { index, item: before } = locate(document.groups, id, 'Group', { ifMatch })
  const group: GroupConfig = {
    id,
    name: body.name,
    order: body.order ?? before.order,
    serverIds: body.serverIds,
    rowNumber: body.rowNumber ?? before.rowNumber,
    rowOrder: body.rowOrder ?? before.rowOrder
  }
  checkGroupRules(group, document)
  return withGroups(document, withItem(document.groups, group, index), group)
}

export function deleteGroup (document: StoreDocument, { id, ifMatch, reassign }: ItemRemoval & { reassign?: ReassignMode }): Applied<{ deletedId: string, reassignedServers: string[] }> {
  const { item: removed } = locate(document.groups, id, 'Group', { ifMatch })
  let groups = document.groups.filter(group => group !== removed)
  const target = reassign === 'default' ? sortGroups(groups)[0] : undefined
  if (target !== undefined) {
    const moved = removed.serverIds.filter(serverId => !target.serverIds.includes(serverId))
    groups = groups.map(group => (group === target ? { ...group, serverIds: [...group.serverIds, ...moved] } : group))
  }
  return withGroups({ ...document, ...withoutScoped(document, 'groupIds', id) }, groups, { deletedId: id, reassignedServers: [...removed.serverIds] })
}

// ---- channels, alert rules, maintenance windows: one mechanism (collections.ts). They are not
// published (SPEC §10), so their changes are empty change sets.

const itemsOf = <K extends CollectionKey>(document: StoreDocument, key: K) => document[key] as readonly CollectionItem<K>[]
const specOf = <K extends CollectionKey>(key: K) => COLLECTIONS[key] as CollectionSpec<K>

function withItems<K extends CollectionKey, T> (document: StoreDocument, key: K, items: readonly CollectionItem<K>[], value: T, counter?: number): Applied<T> {
  const next = { ...document, [key]: items }
  if (counter !== undefined) next[specOf(key).counter] = counter
  return { document: next, value, changes: noChanges() }
}

/** The stored item for a parsed body: the URL's or a new id first, what the stored one keeps, checked against the document. */
function completeItem<K extends CollectionKey> (document: StoreDocument, key: K, body: CollectionInput<K>, id: string, stored?: CollectionItem<K>): CollectionItem<K> {
  const spec = specOf(key)
  const { id: _bodyId, ...fields } = body
  let item = { id, ...fields } as CollectionItem<K>
  if (spec.keep) item = spec.keep(item, stored)
  spec.check(item, document)
  return item
}

export function createItem<K extends CollectionKey> (document: StoreDocument, key: K, body: CollectionInput<K>): Applied<CollectionItem<K>> {
  const spec = specOf(key)
  const items = itemsOf(document, key)
  const { id, next } = newId(items, body.id, spec.idKind, document[spec.counter], spec.label)
  const item = completeItem(document, key, body, id)
  return withItems(document, key, withItem(items, item), item, next)
}

export function updateItem<K extends CollectionKey> (document: StoreDocument, key: K, { id, body, ifMatch }: ItemChange<CollectionInput<K>>): Applied<CollectionItem<K>> {
  checkBodyId(body.id, id)
  const items = itemsOf(document, key)
  const { index, item: before } = locate(items, id, specOf(key).label, { ifMatch })
  const after = completeItem(document, key, body, id, before)
  return withItems(document, key, withItem(items, after, index), after)
}

export function deleteItem<K extends CollectionKey> (document: StoreDocument, key: K, { id, ifMatch }: ItemRemoval): Applied<{ deletedId: string }> {
  const spec = specOf(key)
  const items = itemsOf(document, key)
  const { index, item } = locate(items, id, spec.label, { ifMatch })
  spec.checkRemoval?.(document, item)
  return withItems(document, key, items.toSpliced(index, 1), { deletedId: id })
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** What replacing `before` by `after` (a checked document) changes, item by item. */
export function diff (before: StoreDocument, after: StoreDocument): ChangeSet {
  const changes = noChanges()
  const old = new Map(before.servers.map(server => [server.id, server]))
  for (const server of after.servers) {
    const previous = old.get(server.id)
    if (previous === undefined) changes.serversAdded.push(server)
    // Identity first: documents share what a change did not touch.
    else if (previous !== server && !sameJson(previous, server)) changes.serversUpdated.push({ before: previous, after: server })
    old.delete(server.id)
  }
  changes.serversRemoved.push(...old.values())
  if (!sameJson(sortGroups(before.groups), sortGroups(after.groups))) changes.groups = sortGroups(after.groups)
  return changes
}

const COUNTERS = ['nextServerId', 'nextGroupId', 'nextChannelId', 'nextRuleId', 'nextMaintenanceId'] as const

/**
 * The whole configuration replaced (import, hand edit) by `next`, a checked document. Its
 * counters never go back: ids are not reused after restoring an older backup (or a version-1
 * one, whose alert counters start at 1), since logs and alerts keep naming old ids.
 */
export function replaceDocument (document: StoreDocument, next: StoreDocument): Applied<StoreDocument> {
  const replaced = { ...next }
  for (const counter of COUNTERS) replaced[counter] = Math.max(document[counter], next[counter])
  return { document: replaced, value: replaced, changes: diff(document, replaced) }
}
