import type { StoreDocument } from '../schemas/config.ts'
import { setTimeout } from 'node:timers/promises'
import { readTextFile } from './atomic-json-file.ts'
import { HttpError } from './errors.ts'
import { sortGroups } from './normalize.ts'
import { copyInput, createValidators } from './document.ts'
import { etagOf } from './store/etag.ts'
import { watchHandEdits, type HandEditWatcher } from './store/hand-edits.ts'
import { DataFileError, describeFsError, loadDataFile } from './store/load.ts'
import { findById } from './store/lookup.ts'
import * as mutations from './store/mutations.ts'
import { COLLECTIONS, COLLECTION_KEYS, type CollectionItem, type CollectionKey, type CollectionSpec } from './store/collections.ts'
import { auditItem, changedItems, deletedItem, type Named } from './store/audit.ts'
import type { IdKind } from './store/ids.ts'
import {
  noChanges, type Applied, type AuditAction, type AuditItem, type AuditRecord, type ChangeOptions, type ChangeOrigin, type ChangeSet,
  type ClusterStorage, type ConfigStore, type ConfigStoreOptions, type ItemCollection, type Mutation, type ReplaceAction, type StoreHealth
} from './store/types.ts'
import { createPersistence } from './store/persistence.ts'
import { deltaOf, withDelta, type DeltaOp } from './store/delta.ts'
import { createWriteQueue, StaleDocument, type Apply } from './store/write-queue.ts'
import { isConnectionError } from './cluster/database.ts'
import { changesSince, loadConfig, SNAPSHOT_EVERY, writeChange, writeSnapshot, type ConfigChange } from './cluster/config-log.ts'
import { createListeners } from './listeners.ts'

export type {
  ChangeSet, ServerUpdate, Mutation, Precondition, ChangeListener, StoreHealth, ConfigStoreOptions, ConfigStore, ItemCollection,
  ChangeOrigin, ChangeOptions, ItemChangeOptions, AuditAction, AuditItem, AuditRecord, AuditListener, ReplaceAction, ClusterStorage
} from './store/types.ts'
export type { CollectionKey, CollectionItem } from './store/collections.ts'
export { DataFileError } from './store/load.ts'

/** The document of a new install (and what an unreadable one is compared with). */
export const EMPTY_DOCUMENT: StoreDocument = {
  version: 2,
  nextServerId: 1,
  nextGroupId: 1,
  nextChannelId: 1,
  nextRuleId: 1,
  nextMaintenanceId: 1,
  servers: [],
  groups: [],
  channels: [],
  alertRules: [],
  maintenance: []
}

/**
 * Committed documents are frozen: what `servers()` and friends hand out can only be read,
 * so nothing changes the configuration without validation, a write and its events.
 */
function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

/**
 * Freezes a draft made from a committed (frozen) document, given the changes between them:
 * only what the mutation made — not 50,000 shared items looked at again per change.
 */
function freezeChanges (draft: StoreDocument, ops: readonly DeltaOp[]): void {
  Object.freeze(draft)
  for (const op of ops) {
    if (op.length === 2) deepFreeze(op[1])
    else if (op.length === 4) {
      Object.freeze(draft[op[0] as keyof StoreDocument])
      for (const item of op[3]) deepFreeze(item)
    }
  }
}

/** The origin of the host's own calls, and of hand edits of the data file (SPEC §11's audit). */
const HOST: ChangeOrigin = { actor: 'host', address: null }
const HAND_EDIT: ChangeOrigin = { actor: 'file', address: null }

/** How the audit describes a change: its action, and the items it touched given the document before it and its answer. */
interface Audited<T> { action: AuditAction, items (before: StoreDocument, value: T): AuditItem[] }
const creating = <T extends Named>(kind: IdKind): Audited<T> => ({ action: 'create', items: (_before, item) => [auditItem('create', kind, item)] })
const updating = <T extends Named>(kind: IdKind): Audited<T> => ({ action: 'update', items: (_before, item) => [auditItem('update', kind, item)] })
const deleting = <T>(kind: IdKind, id: string): Audited<T> => ({ action: 'delete', items: before => [deletedItem(before, kind, id)] })
const replacingAs = (action: ReplaceAction): Audited<StoreDocument> => ({ action, items: changedItems })

/** The replacement of the configuration by `input`, checked now as a stored document. */
function replacing (input: unknown, checkDocument: (value: unknown) => StoreDocument): Apply<StoreDocument> {
  const next = checkDocument(copyInput(input))
  return document => mutations.replaceDocument(document, next)
}

/**
 * What is wrong with the store, if anything: a write that failed (until one succeeds), the
 * file (unreadable, or holding a rejected hand edit) until it holds a good configuration, and
 * a background rewrite that failed (until one succeeds).
 */
function healthTracker () {
  let readOnly: string | null = null
  let writeFailure: string | null = null
  let fileProblem: string | null = null
  let rewriteFailure: string | null = null
  return {
    written () { writeFailure = null },
    writeFailed (error: string) { writeFailure = error },
    /** The data file was rewritten: it holds a good configuration again, whatever a hand edit left in it. */
    fileWritten () { fileProblem = rewriteFailure = null },
    fileGood () { fileProblem = null },
    fileRejected (error: string) { fileProblem = error },
    rewriteFailed (error: string) { rewriteFailure = error },
    readOnly (reason: string) { readOnly = reason },
    get holdsRejectedEdit () { return fileProblem !== null },
    report (): StoreHealth {
      const error = writeFailure ?? fileProblem ?? rewriteFailure
      if (error !== null) return { ok: false, error, ...(readOnly === null ? {} : { readOnly: true }) }
      return readOnly === null ? { ok: true } : { ok: true, readOnly: true, error: readOnly }
    }
  }
}

/** How long a change made in a cluster waits for its events to reach this node's clients before it is answered. */
const OWN_EVENTS_WAIT_MS = 2_000

/** The answer to a change while the cluster's database is away (SPEC §12: writes 503, reads go on). */
const databaseAway = (cluster: ClusterStorage) =>
  new HttpError(503, `The database is unreachable: the configuration is read-only until it is back (${cluster.database.problem ?? 'a write failed'})`)

/** The configuration as stored in the cluster's database (an empty one before the first write). */
async function loadFromCluster (cluster: ClusterStorage, checkDocument: (value: unknown) => StoreDocument) {
  const stored = await loadConfig(cluster.database, EMPTY_DOCUMENT)
  let document: StoreDocument
  try {
    document = checkDocument(stored.document ?? structuredClone(EMPTY_DOCUMENT))
  } catch (err) {
    throw new DataFileError(`The configuration in the database (version ${stored.version}) is not a valid estatus configuration: ${(err as Error).message}`)
  }
  return { document, version: stored.version, readOnly: null, persistence: null }
}

/**
 * The configuration store: one document in one data file. This module wires the parts in
 * lib/store/: the pure mutations, the write queue that persists them, the hand-edit
 * watcher, ETags and lookups.
 */
export async function createConfigStore (options: ConfigStoreOptions): Promise<ConfigStore> {
  const { file, log, cluster } = options
  const { parseServer, parseGroup, parseItem, checkDocument } = createValidators()
  const health = healthTracker()
  let handEdits: HandEditWatcher | null = null
  const loaded = cluster === undefined
    ? {
        version: 0,
        ...await loadDataFile(file, log, checkDocument, EMPTY_DOCUMENT, document => createPersistence({
          file,
          log,
          document,
          fileWritten: () => health.fileWritten(),
          compactionFailed: err => health.rewriteFailed(`could not rewrite ${file} from its journal: ${describeFsError(err)}; the changes are kept in the journal`),
          idle: () => handEdits?.afterWrites(),
          holdsRejectedEdit: () => health.holdsRejectedEdit
        }))
      }
    : await loadFromCluster(cluster, checkDocument)
  const { readOnly, persistence } = loaded
  if (readOnly !== null) {
    log.warn({ file, reason: readOnly }, 'the data file is not writable: serving the configuration read-only')
    health.readOnly(readOnly)
  }
  /** Cluster mode: the stored version the committed document is at, and the log row of the last write made here. */
  let version = loaded.version
  let lastWriteEventId = 0

  let committed: StoreDocument = deepFreeze(loaded.document)
  let sortedGroups = { of: committed.groups, sorted: sortGroups(committed.groups) }
  const listeners = createListeners<ChangeSet>(log, () => [{}, 'a configuration change listener failed'])
  // A failing observer (metrics) must not turn a write that landed into a failed one.
  const writeListeners = createListeners<number>(log, () => [{}, 'a data-file write listener failed'])
  const auditListeners = createListeners<AuditRecord>(log, record => [{ action: record.action }, 'an audit listener failed'])

  /** Serializes what changes the committed document: the write queue's batches and, in a cluster, the changes of other nodes. */
  let turn: Promise<unknown> = Promise.resolve()
  function exclusive<T> (work: () => Promise<T>): Promise<T> {
    const run = turn.then(work)
    turn = run.catch(() => {})
    return run
  }

  /** Other nodes' changes, in order: the committed document follows them, and listeners hear of each (the writer audited it). */
  function applyStored (stored: readonly ConfigChange[]) {
    for (const change of stored) {
      if (change.version <= version) continue
      if (change.version !== version + 1) throw new Error(`configuration version ${change.version} follows ${version}: a change is missing`)
      const next = withDelta(committed, change.ops)
      freezeChanges(next, change.ops)
      const changes = mutations.diff(committed, next)
      committed = next
      version = change.version
      listeners.emit(changes)
    }
  }

  /** The committed document loaded whole again, listeners told what differs. */
  async function reload () {
    const reloaded = await loadFromCluster(cluster!, checkDocument)
    const changes = mutations.diff(committed, reloaded.document)
    committed = deepFreeze(reloaded.document)
    version = reloaded.version
    listeners.emit(changes)
  }

  async function catchUp () {
    if (cluster === undefined) return
    let stored: ConfigChange[]
    try {
      stored = await changesSince(cluster.database, version)
      applyStored(stored)
    } catch (err) {
      if (!cluster.database.reachable) throw err
      // A gap cannot be bridged by deltas.
      log.error({ err }, 'could not follow the stored configuration; loading it again')
      return reload()
    }
    // Behind, yet nothing newer stored: this copy is ahead of the database (restored from a backup, say).
    if (stored.length === 0) {
      log.warn({ version }, 'the configuration in the database is older than this node\'s copy; loading it again')
      await reload()
    }
  }

  const queue = createWriteQueue({
    committed: () => committed,
    exclusive,
    catchUp,
    async persist (draft, changeSets) {
      const ops = deltaOf(committed, draft)
      freezeChanges(draft, ops)
      if (cluster !== undefined) {
        const written = await writeChange(cluster.database, {
          base: version,
          ops,
          events: changeSets.flatMap(changes => cluster.eventsOf(changes)),
          removedServerIds: changeSets.flatMap(changes => changes.serversRemoved.map(server => server.id))
        })
        if (written === null) throw new StaleDocument()
        version = written.version
        lastWriteEventId = written.lastEventId
        if (version % SNAPSHOT_EVERY === 0) {
          writeSnapshot(cluster.database, version, written.configRowId, draft).catch(err => log.warn({ err, version }, 'could not write a configuration snapshot'))
        }
        return
      }
      // Read-only, only hand edits get here (the API is refused): they are applied unwritten.
      if (persistence === null) return
      const started = process.hrtime.bigint()
      // A file holding a rejected hand edit is replaced by the next write, not left for the background.
      await persistence.persist(ops, draft, health.holdsRejectedEdit)
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      writeListeners.emit(seconds)
    },
    commit (draft) {
      // Frozen by persist.
      committed = draft
      health.written()
    },
    failure (err) {
      if (cluster !== undefined) {
        log.error({ err }, 'could not write the configuration to the database; the change is not applied')
        if (err instanceof StaleDocument) return new HttpError(503, 'The configuration is changing too fast on other nodes: the change was not applied; try again')
        return cluster.database.reachable && !isConnectionError(err) ? new HttpError(500, 'Could not save the configuration') : databaseAway(cluster)
      }
      health.writeFailed(`could not write ${file}: ${describeFsError(err)}; the last change was not saved`)
      log.error({ err, file }, 'could not write the data file; the change is not applied')
      return new HttpError(500, 'Could not save the configuration')
    },
    publish: listeners.emit,
    idle: () => handEdits?.afterWrites()
  })

  /**
   * A change queued and written, then reported to the audit: what it did is worked out when
   * it is applied (a delete names the item as it was), and reported only once it is on disk.
   */
  async function recorded<T> (apply: Apply<T>, audited: Audited<T>, origin: ChangeOrigin): Promise<Mutation<T>> {
    const { value: { value, items }, changes } = await queue.enqueue(document => {
      const applied = apply(document)
      return { ...applied, value: { value: applied.value, items: audited.items(document, applied.value) } }
    })
    auditListeners.emit({ action: audited.action, origin, items })
    // In a cluster this node's clients get the change's events from the log: before the answer, as in one
    // process — unless the database goes away right after the commit (the change is made: it is answered).
    if (cluster !== undefined) await Promise.race([cluster.tail.reached(lastWriteEventId), setTimeout(OWN_EVENTS_WAIT_MS)])
    return { value, changes }
  }

  /** A change through the API: refused up front when the file is read-only. */
  function change<T> (apply: Apply<T>, audited: Audited<T>, options: ChangeOptions = {}) {
    if (readOnly !== null) return Promise.reject(new HttpError(503, 'The configuration is read-only (the data file is not writable): changes are refused'))
    if (cluster !== undefined && !cluster.database.reachable) return Promise.reject(databaseAway(cluster))
    return recorded(apply, audited, options.origin ?? HOST)
  }

  /** A create or update: the body is parsed (and a bad one refused) before the change is queued. */
  function changeWithBody<B, T> (parse: (input: unknown) => B, input: unknown, apply: (document: StoreDocument, body: B) => Applied<T>, audited: Audited<T>, options?: ChangeOptions) {
    const body = parse(input)
    return change(document => apply(document, body), audited, options)
  }

  function collectionOf<K extends CollectionKey> (key: K): ItemCollection<CollectionItem<K>> {
    const items = () => committed[key] as readonly CollectionItem<K>[]
    const { label, idKind } = COLLECTIONS[key]
    const parse = (body: unknown) => parseItem(key, body)
    return {
      label,
      list: items,
      get: id => findById(items(), id),
      view: (COLLECTIONS[key] as CollectionSpec<K>).view,
      create: async (input, options) => changeWithBody(parse, input, (document, body) => mutations.createItem(document, key, body), creating(idKind), options),
      update: async (id, input, options) =>
        changeWithBody(parse, input, (document, body) => mutations.updateItem(document, key, { id, body, ifMatch: options?.ifMatch }), updating(idKind), options),
      delete: async (id, options) => change(document => mutations.deleteItem(document, key, { id, ifMatch: options?.ifMatch }), deleting(idKind, id), options)
    }
  }
  const collections = Object.fromEntries(COLLECTION_KEYS.map(key => [key, collectionOf(key)])) as { [K in CollectionKey]: ItemCollection<CollectionItem<K>> }

  // Hand edits of a file do not exist in cluster mode (SPEC §12): other nodes' changes come from the log.
  cluster?.consume('config', rows => exclusive(async () => {
    applyStored(rows.map(row => ({ version: row.version!, ops: JSON.parse(row.payload) as DeltaOp[] })))
  }).catch(async err => {
    log.error({ err }, 'could not apply a configuration change from the log; catching up')
    await exclusive(catchUp)
  }))

  if (options.watchFile !== false && cluster === undefined) {
    handEdits = watchHandEdits({
      file,
      log,
      debounceMs: options.watchDebounceMs ?? 100,
      readText: () => readTextFile(file),
      isLastWrittenText: text => persistence?.isLastWrittenText(text) ?? false,
      isLastWritten: stats => persistence?.isLastWritten(stats) ?? false,
      seen: stats => persistence?.adopt(stats),
      writing: () => queue.busy || (persistence?.busy ?? false),
      apply: async edited => (await recorded(replacing(edited, checkDocument), replacingAs('replace'), HAND_EDIT)).changes,
      restore () {
        if (readOnly !== null) return
        queue.enqueue(document => ({ document, value: null, changes: noChanges() }))
          .catch(err => log.error({ err, file }, 'could not write the data file back'))
      },
      healthy: health.fileGood,
      unhealthy: health.fileRejected
    })
  }

  return {
    file,
    document: () => committed,
    servers: () => committed.servers,
    server: id => findById(committed.servers, id),
    groups () {
      if (sortedGroups.of !== committed.groups) sortedGroups = { of: committed.groups, sorted: sortGroups(committed.groups) }
      return [...sortedGroups.sorted]
    },
    group: id => findById(committed.groups, id),
    etag: etagOf,
    createServer: async (input, options) => changeWithBody(parseServer, input, (document, body) => mutations.createServer(document, body), creating('server'), options),
    updateServer: async (id, input, options) =>
      changeWithBody(parseServer, input, (document, body) => mutations.updateServer(document, { id, body, ifMatch: options?.ifMatch }), updating('server'), options),
    deleteServer: async (id, options) => change(document => mutations.deleteServer(document, { id, ifMatch: options?.ifMatch }), deleting('server', id), options),
    createGroup: async (input, options) => changeWithBody(parseGroup, input, (document, body) => mutations.createGroup(document, body), creating('group'), options),
    updateGroup: async (id, input, options) =>
      changeWithBody(parseGroup, input, (document, body) => mutations.updateGroup(document, { id, body, ifMatch: options?.ifMatch }), updating('group'), options),
    deleteGroup: async (id, options = {}) =>
      change(document => mutations.deleteGroup(document, { id, ifMatch: options.ifMatch, reassign: options.reassign }), deleting('group', id), options),
    collection: key => collections[key],
    channels: () => committed.channels,
    channel: id => findById(committed.channels, id),
    alertRules: () => committed.alertRules,
    maintenanceWindows: () => committed.maintenance,
    replace: async (input, options = {}) => change(replacing(input, checkDocument), replacingAs(options.action ?? 'replace'), options),
    onChange: listeners.add,
    onAudit: auditListeners.add,
    onWrite: writeListeners.add,
    health () {
      if (cluster !== undefined && !cluster.database.reachable) {
        return { ok: false, readOnly: true, error: `${cluster.database.problem ?? 'the database is unreachable'}: serving the last known configuration read-only` }
      }
      return health.report()
    },
    flush: async () => { await queue.settled(); await persistence?.flush() },
    async close () {
      handEdits?.close()
      // Let every acknowledged or queued change reach the disk, and the data file itself.
      await queue.settled()
      await persistence?.close()
      listeners.clear()
      writeListeners.clear()
      auditListeners.clear()
    }
  }
}
