import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import { createHash } from 'node:crypto'
import { Low } from 'lowdb'
import type { FastifyBaseLogger } from 'fastify'
import type { ServerInput, StoreDocument, ServerConfig, GroupConfig, ReassignMode } from '../schemas/config.ts'
import { atomicJsonFile, contentHash } from './atomic-json-file.ts'
import { HttpError, conflict, describeJsonError, invalid, itemNotFound } from './errors.ts'
import { keepStoredSecrets, sortGroups, toPublicServer } from './normalize.ts'
import { checkGroupRules, checkServerRules, createValidators, nextSerial } from './document.ts'

export interface ServerUpdate { before: ServerConfig, after: ServerConfig }

/** What one persisted mutation changed; the event layer and the monitor act on it as is. */
export interface ChangeSet {
  serversAdded: ServerConfig[]
  serversUpdated: ServerUpdate[]
  serversRemoved: ServerConfig[]
  /** The full group list (display order) after the change, or null when groups did not change. */
  groups: GroupConfig[] | null
}

export interface Mutation<T> { value: T, changes: ChangeSet }
export interface Precondition { ifMatch?: string | undefined }
export type ChangeListener = (changes: ChangeSet) => void

export interface StoreHealth { ok: boolean, error?: string }

export interface ConfigStoreOptions {
  file: string
  log: FastifyBaseLogger
  /** Pick up hand edits of the data file while running (SPEC §5, last rule). */
  watchFile?: boolean
  /** Quiet period after a file-system event before the file is read. */
  watchDebounceMs?: number
}

export interface ConfigStore {
  readonly file: string
  /** The whole stored document, as written (for export). */
  document (): StoreDocument
  servers (): readonly ServerConfig[]
  server (id: string): ServerConfig | undefined
  /** Groups in display order. */
  groups (): GroupConfig[]
  group (id: string): GroupConfig | undefined
  etag (item: ServerConfig | GroupConfig): string
  createServer (input: unknown): Promise<Mutation<ServerConfig>>
  updateServer (id: string, input: unknown, precondition?: Precondition): Promise<Mutation<ServerConfig>>
  deleteServer (id: string, precondition?: Precondition): Promise<Mutation<{ deletedId: string }>>
  createGroup (input: unknown): Promise<Mutation<GroupConfig>>
  updateGroup (id: string, input: unknown, precondition?: Precondition): Promise<Mutation<GroupConfig>>
  deleteGroup (id: string, options?: Precondition & { reassign?: ReassignMode }): Promise<Mutation<{ deletedId: string, reassignedServers: string[] }>>
  /** Replaces the whole configuration (import, hand edit), validated as a stored document. */
  replace (document: unknown): Promise<Mutation<StoreDocument>>
  /** Called after every persisted change, before the mutating call resolves. */
  onChange (listener: ChangeListener): () => void
  /** Called with the seconds each successful write of the data file took (estatus_config_write_seconds). */
  onWrite (listener: (seconds: number) => void): () => void
  health (): StoreHealth
  close (): Promise<void>
}

const EMPTY_DOCUMENT: StoreDocument = { version: 1, nextServerId: 1, nextGroupId: 1, servers: [], groups: [] }

function noChanges (): ChangeSet {
  return { serversAdded: [], serversUpdated: [], serversRemoved: [], groups: null }
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/**
 * Committed documents are frozen: what `servers()` and friends hand out can only be read,
 * so nothing changes the configuration without validation, a write and its events.
 * Items carried over from the previous document are frozen already and skipped.
 */
function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

/** The entity tag of an item: a digest of what clients see of it, so it never leaks a secret. */
function etagOf (item: ServerConfig | GroupConfig): string {
  const visible = 'ip' in item ? toPublicServer(item) : item
  return '"' + createHash('sha1').update(JSON.stringify(visible)).digest('base64url').slice(0, 20) + '"'
}

function matchesIfMatch (header: string | undefined, item: ServerConfig | GroupConfig): boolean {
  if (header === undefined) return true
  const current = etagOf(item)
  return header.split(',').some(candidate => {
    const tag = candidate.trim().replace(/^W\//, '')
    return tag === '*' || tag === current
  })
}

/** The item a change is about, and where it stands: 404 when it is gone, 409 when If-Match is stale. */
function locate<T extends ServerConfig | GroupConfig> (items: readonly T[], id: string, what: 'Server' | 'Group', precondition?: Precondition): { index: number, item: T } {
  const index = items.findIndex(item => item.id === id)
  const item = items[index]
  if (item === undefined) throw itemNotFound(what, id)
  if (!matchesIfMatch(precondition?.ifMatch, item)) {
    throw conflict(`${what} with ID '${id}' was changed by someone else (If-Match does not match); reload and try again`)
  }
  return { index, item }
}

/** An update body may carry the id, but only the one in the URL. */
function checkBodyId (bodyId: string | undefined, id: string) {
  if (bodyId !== undefined && bodyId !== id) throw invalid('id', `must match the URL ('${id}')`)
}

export async function createConfigStore (options: ConfigStoreOptions): Promise<ConfigStore> {
  const { file, log } = options
  const { parseServer, parseGroup, checkDocument } = createValidators()

  const adapter = atomicJsonFile<StoreDocument>(file)
  const db = new Low<StoreDocument>(adapter, structuredClone(EMPTY_DOCUMENT))
  await db.read()
  try {
    db.data = checkDocument(db.data)
  } catch (err) {
    throw new Error(`The data file ${file} is not a valid estatus configuration: ${(err as Error).message}`)
  }
  await db.write()

  let committed: StoreDocument = deepFreeze(db.data)
  let health: StoreHealth = { ok: true }
  const listeners = new Set<ChangeListener>()
  const writeListeners = new Set<(seconds: number) => void>()

  // ---- serialized, batched writes -------------------------------------------------
  // Mutations queue up while a write is in flight; the next write carries all of them.
  // Each is applied to the draft in order (a failing one is rejected alone), and every
  // caller resolves only after the write that contains its change has completed.
  type Apply<T> = (document: StoreDocument) => { document: StoreDocument, value: T, changes: ChangeSet }
  interface Pending { apply: Apply<unknown>, resolve (mutation: Mutation<unknown>): void, reject (err: unknown): void }
  let queue: Pending[] = []
  let writing: Promise<void> | null = null

  function enqueue<T> (apply: Apply<T>): Promise<Mutation<T>> {
    return new Promise((resolve, reject) => {
      queue.push({ apply, resolve: resolve as Pending['resolve'], reject })
      // Started on a later tick: mutations of the same tick share the write, and `writing`
      // is set before drain() can clear it.
      writing ??= Promise.resolve().then(drain)
    })
  }

  async function drain () {
    while (queue.length > 0) {
      const batch = queue
      queue = []
      let draft = committed
      const applied: Array<{ pending: Pending, value: unknown, changes: ChangeSet }> = []
      for (const pending of batch) {
        try {
          const result = pending.apply(draft)
          draft = result.document
          applied.push({ pending, value: result.value, changes: result.changes })
        } catch (err) {
          pending.reject(err)
        }
      }
      if (applied.length === 0) continue
      db.data = draft
      const started = process.hrtime.bigint()
      try {
        await db.write()
      } catch (err) {
        db.data = committed
        log.error({ err, file }, 'could not write the data file; the change is not applied')
        for (const { pending } of applied) pending.reject(new HttpError(500, 'Could not save the configuration'))
        continue
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      for (const listener of writeListeners) listener(seconds)
      committed = deepFreeze(draft)
      // The file now holds a good configuration again, whatever a hand edit left in it.
      health = { ok: true }
      for (const { pending, value, changes } of applied) {
        publish(changes)
        pending.resolve({ value, changes })
      }
    }
    writing = null
    if (fileCheckWanted) void checkFile()
  }

  function publish (changes: ChangeSet) {
    for (const listener of listeners) {
      try {
        listener(changes)
      } catch (err) {
        log.error({ err }, 'a configuration change listener failed')
      }
    }
  }

  // ---- servers ----------------------------------------------------------------------
  function completeServer (body: ServerInput, id: string, stored?: ServerConfig): ServerConfig {
    const { id: _bodyId, ...fields } = body
    const server = keepStoredSecrets({ id, ...fields }, stored)
    checkServerRules(server)
    return server
  }

  function generateServerId (document: StoreDocument): { id: string, next: number } {
    const taken = new Set(document.servers.map(server => server.id))
    const format = (serial: number) => `server-${String(serial).padStart(3, '0')}`
    let serial = document.nextServerId
    while (taken.has(format(serial))) serial++
    return { id: format(serial), next: serial + 1 }
  }

  const createServer: ConfigStore['createServer'] = async (input) => {
    const body = parseServer(input)
    return enqueue(document => {
      let nextServerId = document.nextServerId
      let id = body.id
      if (id === undefined) {
        const generated = generateServerId(document)
        id = generated.id
        nextServerId = generated.next
      } else if (document.servers.some(other => other.id === id)) {
        throw conflict(`Server with ID '${id}' already exists`)
      } else {
        // A client may pick an id that looks generated: the counter moves past it.
        nextServerId = nextSerial(nextServerId, [id], 'server')
      }
      const server = completeServer(body, id)
      return {
        document: { ...document, nextServerId, servers: [...document.servers, server] },
        value: server,
        changes: { ...noChanges(), serversAdded: [server] }
      }
    })
  }

  const updateServer: ConfigStore['updateServer'] = async (id, input, precondition) => {
    const body = parseServer(input)
    checkBodyId(body.id, id)
    return enqueue(document => {
      const { index, item: before } = locate(document.servers, id, 'Server', precondition)
      const after = completeServer(body, id, before)
      const servers = document.servers.with(index, after)
      return { document: { ...document, servers }, value: after, changes: { ...noChanges(), serversUpdated: [{ before, after }] } }
    })
  }

  const deleteServer: ConfigStore['deleteServer'] = (id, precondition) => enqueue(document => {
    const { item: removed } = locate(document.servers, id, 'Server', precondition)
    let groupsTouched = false
    const groups = document.groups.map(group => {
      if (!group.serverIds.includes(id)) return group
      groupsTouched = true
      return { ...group, serverIds: group.serverIds.filter(serverId => serverId !== id) }
    })
    return {
      document: { ...document, servers: document.servers.filter(server => server !== removed), groups },
      value: { deletedId: id },
      changes: { ...noChanges(), serversRemoved: [removed], groups: groupsTouched ? sortGroups(groups) : null }
    }
  })

  // ---- groups -----------------------------------------------------------------------
  const groupsChanged = (document: StoreDocument, groups: GroupConfig[]) => ({
    document: { ...document, groups },
    changes: { ...noChanges(), groups: sortGroups(groups) }
  })

  const createGroup: ConfigStore['createGroup'] = async (input) => {
    const body = parseGroup(input)
    return enqueue(document => {
      const lastOrder = Math.max(0, ...document.groups.map(group => group.order))
      const group: GroupConfig = {
        id: `group-${document.nextGroupId}`,
        name: body.name,
        order: body.order ?? Math.min(lastOrder + 1, 1000),
        serverIds: body.serverIds,
        rowNumber: body.rowNumber ?? 1,
        rowOrder: body.rowOrder ?? 1
      }
      checkGroupRules(group, document)
      const result = groupsChanged({ ...document, nextGroupId: document.nextGroupId + 1 }, [...document.groups, group])
      return { ...result, value: group }
    })
  }

  const updateGroup: ConfigStore['updateGroup'] = async (id, input, precondition) => {
    const body = parseGroup(input)
    checkBodyId(body.id, id)
    return enqueue(document => {
      const { index, item: before } = locate(document.groups, id, 'Group', precondition)
      const group: GroupConfig = {
        id,
        name: body.name,
        order: body.order ?? before.order,
        serverIds: body.serverIds,
        rowNumber: body.rowNumber ?? before.rowNumber,
        rowOrder: body.rowOrder ?? before.rowOrder
      }
      checkGroupRules(group, document)
      return { ...groupsChanged(document, document.groups.with(index, group)), value: group }
    })
  }

  const deleteGroup: ConfigStore['deleteGroup'] = (id, options = {}) => enqueue(document => {
    const { item: removed } = locate(document.groups, id, 'Group', options)
    let groups = document.groups.filter(group => group !== removed)
    const target = options.reassign === 'default' ? sortGroups(groups)[0] : undefined
    if (target !== undefined) {
      const moved = removed.serverIds.filter(serverId => !target.serverIds.includes(serverId))
      groups = groups.map(group => (group === target ? { ...group, serverIds: [...group.serverIds, ...moved] } : group))
    }
    return { ...groupsChanged(document, groups), value: { deletedId: id, reassignedServers: [...removed.serverIds] } }
  })

  // ---- whole document -----------------------------------------------------------------
  function diff (before: StoreDocument, after: StoreDocument): ChangeSet {
    const changes = noChanges()
    const old = new Map(before.servers.map(server => [server.id, server]))
    for (const server of after.servers) {
      const previous = old.get(server.id)
      if (previous === undefined) changes.serversAdded.push(server)
      else if (!sameJson(previous, server)) changes.serversUpdated.push({ before: previous, after: server })
      old.delete(server.id)
    }
    changes.serversRemoved.push(...old.values())
    if (!sameJson(sortGroups(before.groups), sortGroups(after.groups))) changes.groups = sortGroups(after.groups)
    return changes
  }

  const replace: ConfigStore['replace'] = async (input) => {
    const next = checkDocument(structuredClone(input))
    return enqueue(document => ({ document: next, value: next, changes: diff(document, next) }))
  }

  // ---- hand edits of the data file ------------------------------------------------------
  let watcher: FSWatcher | null = null
  let debounce: NodeJS.Timeout | null = null
  let fileCheckWanted = false
  let checking = false
  let closed = false

  /** One look at a time; a change seen meanwhile gets another look afterwards. */
  async function checkFile () {
    if (checking) { fileCheckWanted = true; return }
    checking = true
    try {
      await inspectFile()
    } finally {
      checking = false
    }
    if (fileCheckWanted && writing === null) void checkFile()
  }

  async function inspectFile () {
    fileCheckWanted = false
    if (closed) return
    // Our own write may be in flight: look again once it has landed.
    if (writing !== null) { fileCheckWanted = true; return }
    let text: string | null
    try {
      text = await adapter.readText()
    } catch (err) {
      health = { ok: false, error: `cannot read ${file}: ${(err as Error).message}` }
      log.error({ err, file }, 'cannot read the data file back')
      return
    }
    if (closed || writing !== null) { fileCheckWanted = writing !== null; return }
    if (text !== null && contentHash(text) === adapter.lastWrittenHash) {
      health = { ok: true } // a rejected edit was undone by hand
      return
    }
    if (text === null) {
      log.warn({ file }, 'the data file was removed by hand; writing the current configuration back')
      enqueue(document => ({ document, value: null, changes: noChanges() }))
        .catch(err => log.error({ err, file }, 'could not write the data file back'))
      return
    }
    try {
      const edited = JSON.parse(text) as unknown
      const { changes } = await replace(edited)
      log.info({ file, added: changes.serversAdded.length, updated: changes.serversUpdated.length, removed: changes.serversRemoved.length, groupsChanged: changes.groups !== null }, 'applied a hand edit of the data file')
    } catch (err) {
      const reason = err instanceof SyntaxError ? describeJsonError(err, text) : (err as Error).message
      health = { ok: false, error: `hand edit of ${file} rejected, last good configuration kept: ${reason}` }
      log.error({ file, reason }, 'rejected a hand edit of the data file; keeping the last good configuration')
    }
  }

  if (options.watchFile !== false) {
    const name = basename(file)
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name) return
      if (debounce) clearTimeout(debounce)
      debounce = setTimeout(() => { debounce = null; void checkFile() }, options.watchDebounceMs ?? 100)
    })
    watcher.on('error', err => log.error({ err, file }, 'watching the data file failed; hand edits will not be picked up'))
  }

  return {
    file,
    document: () => committed,
    servers: () => committed.servers,
    server: id => committed.servers.find(server => server.id === id),
    groups: () => sortGroups(committed.groups),
    group: id => committed.groups.find(group => group.id === id),
    etag: etagOf,
    createServer,
    updateServer,
    deleteServer,
    createGroup,
    updateGroup,
    deleteGroup,
    replace,
    onChange (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    onWrite (listener) {
      writeListeners.add(listener)
      return () => { writeListeners.delete(listener) }
    },
    health: () => health,
    async close () {
      closed = true
      watcher?.close()
      if (debounce) clearTimeout(debounce)
      // Let every acknowledged or queued change reach the disk.
      while (writing !== null) await writing
      listeners.clear()
    }
  }
}
