import { Low } from 'lowdb'
import type { StoreDocument } from '../schemas/config.ts'
import { atomicJsonFile } from './atomic-json-file.ts'
import { HttpError } from './errors.ts'
import { sortGroups } from './normalize.ts'
import { copyInput, createValidators } from './document.ts'
import { documentText } from './store/document-text.ts'
import { etagOf } from './store/etag.ts'
import { watchHandEdits, type HandEditWatcher } from './store/hand-edits.ts'
import { describeFsError, loadDataFile } from './store/load.ts'
import { findById } from './store/lookup.ts'
import * as mutations from './store/mutations.ts'
import { COLLECTIONS, COLLECTION_KEYS, type CollectionItem, type CollectionKey, type CollectionSpec } from './store/collections.ts'
import { noChanges, type Applied, type ChangeSet, type ConfigStore, type ConfigStoreOptions, type ItemCollection, type StoreHealth } from './store/types.ts'
import { createWriteQueue, type Apply } from './store/write-queue.ts'
import { createListeners } from './listeners.ts'

export type { ChangeSet, ServerUpdate, Mutation, Precondition, ChangeListener, StoreHealth, ConfigStoreOptions, ConfigStore, ItemCollection } from './store/types.ts'
export type { CollectionKey, CollectionItem } from './store/collections.ts'
export { DataFileError } from './store/load.ts'

const EMPTY_DOCUMENT: StoreDocument = {
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
 * Items carried over from the previous document are frozen already and skipped, so a
 * mutation freezes only what it made.
 */
function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

/**
 * What is wrong with the store, if anything: a write that failed (until one succeeds), and
 * the file (unreadable, or holding a rejected hand edit) until it holds a good configuration.
 */
/** The replacement of the configuration by `input`, checked now as a stored document. */
function replacing (input: unknown, checkDocument: (value: unknown) => StoreDocument): Apply<StoreDocument> {
  const next = checkDocument(copyInput(input))
  return document => mutations.replaceDocument(document, next)
}

function healthTracker (readOnly: string | null) {
  let writeFailure: string | null = null
  let fileProblem: string | null = null
  return {
    written () { writeFailure = fileProblem = null },
    writeFailed (error: string) { writeFailure = error },
    fileGood () { fileProblem = null },
    fileRejected (error: string) { fileProblem = error },
    report (): StoreHealth {
      const error = writeFailure ?? fileProblem
      if (error !== null) return { ok: false, error, ...(readOnly === null ? {} : { readOnly: true }) }
      return readOnly === null ? { ok: true } : { ok: true, readOnly: true, error: readOnly }
    }
  }
}

/**
 * The configuration store: one document in one data file. This module wires the parts in
 * lib/store/: the pure mutations, the write queue that persists them, the hand-edit
 * watcher, ETags and lookups.
 */
export async function createConfigStore (options: ConfigStoreOptions): Promise<ConfigStore> {
  const { file, log } = options
  const { parseServer, parseGroup, parseItem, checkDocument } = createValidators()
  const adapter = atomicJsonFile<StoreDocument>(file, documentText)
  const loaded = await loadDataFile(file, adapter, checkDocument, EMPTY_DOCUMENT)
  const db = new Low<StoreDocument>(adapter, loaded.document)
  const readOnly = loaded.readOnly
  if (readOnly !== null) log.warn({ file, reason: readOnly }, 'the data file is not writable: serving the configuration read-only')

  let committed: StoreDocument = deepFreeze(loaded.document)
  let sortedGroups = { of: committed.groups, sorted: sortGroups(committed.groups) }
  const health = healthTracker(readOnly)
  const listeners = createListeners<ChangeSet>(log, () => [{}, 'a configuration change listener failed'])
  // A failing observer (metrics) must not turn a write that landed into a failed one.
  const writeListeners = createListeners<number>(log, () => [{}, 'a data-file write listener failed'])
  let handEdits: HandEditWatcher | null = null

  const queue = createWriteQueue({
    committed: () => committed,
    async persist (draft) {
      // Read-only, only hand edits get here (the API is refused): they are applied unwritten.
      if (readOnly !== null) return
      db.data = draft
      const started = process.hrtime.bigint()
      await db.write()
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      writeListeners.emit(seconds)
    },
    commit (draft) {
      committed = deepFreeze(draft)
      // The file now holds a good configuration again, whatever a hand edit left in it
      // (read-only, only a good hand edit gets here).
      health.written()
    },
    failure (err) {
      db.data = committed
      health.writeFailed(`could not write ${file}: ${describeFsError(err)}; the last change was not saved`)
      log.error({ err, file }, 'could not write the data file; the change is not applied')
      return new HttpError(500, 'Could not save the configuration')
    },
    publish: listeners.emit,
    idle: () => handEdits?.afterWrites()
  })

  /** A change through the API: refused up front when the file is read-only. */
  function change<T> (apply: Apply<T>) {
    if (readOnly !== null) return Promise.reject(new HttpError(503, 'The configuration is read-only (the data file is not writable): changes are refused'))
    return queue.enqueue(apply)
  }

  /** A create or update: the body is parsed (and a bad one refused) before the change is queued. */
  function changeWithBody<B, T> (parse: (input: unknown) => B, input: unknown, apply: (document: StoreDocument, body: B) => Applied<T>) {
    const body = parse(input)
    return change(document => apply(document, body))
  }

  function collectionOf<K extends CollectionKey> (key: K): ItemCollection<CollectionItem<K>> {
    const items = () => committed[key] as readonly CollectionItem<K>[]
    return {
      label: COLLECTIONS[key].label,
      list: items,
      get: id => findById(items(), id),
      view: (COLLECTIONS[key] as CollectionSpec<K>).view,
      create: async input => changeWithBody(body => parseItem(key, body), input, (document, body) => mutations.createItem(document, key, body)),
      update: async (id, input, precondition) =>
        changeWithBody(body => parseItem(key, body), input, (document, body) => mutations.updateItem(document, key, { id, body, ifMatch: precondition?.ifMatch })),
      delete: async (id, precondition) => change(document => mutations.deleteItem(document, key, { id, ifMatch: precondition?.ifMatch }))
    }
  }
  const collections = Object.fromEntries(COLLECTION_KEYS.map(key => [key, collectionOf(key)])) as { [K in CollectionKey]: ItemCollection<CollectionItem<K>> }

  if (options.watchFile !== false) {
    handEdits = watchHandEdits({
      file,
      log,
      debounceMs: options.watchDebounceMs ?? 100,
      readText: () => adapter.readText(),
      lastWrittenText: () => adapter.lastWrittenText,
      isLastWritten: stats => adapter.isLastWritten(stats),
      writing: () => queue.busy,
      apply: async edited => (await queue.enqueue(replacing(edited, checkDocument))).changes,
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
    createServer: async input => changeWithBody(parseServer, input, (document, body) => mutations.createServer(document, body)),
    updateServer: async (id, input, precondition) =>
      changeWithBody(parseServer, input, (document, body) => mutations.updateServer(document, { id, body, ifMatch: precondition?.ifMatch })),
    deleteServer: async (id, precondition) => change(document => mutations.deleteServer(document, { id, ifMatch: precondition?.ifMatch })),
    createGroup: async input => changeWithBody(parseGroup, input, (document, body) => mutations.createGroup(document, body)),
    updateGroup: async (id, input, precondition) =>
      changeWithBody(parseGroup, input, (document, body) => mutations.updateGroup(document, { id, body, ifMatch: precondition?.ifMatch })),
    deleteGroup: async (id, options = {}) => change(document => mutations.deleteGroup(document, { id, ...options })),
    collection: key => collections[key],
    channels: () => committed.channels,
    channel: id => findById(committed.channels, id),
    alertRules: () => committed.alertRules,
    maintenanceWindows: () => committed.maintenance,
    replace: async input => change(replacing(input, checkDocument)),
    onChange: listeners.add,
    onWrite: writeListeners.add,
    health: health.report,
    async close () {
      handEdits?.close()
      // Let every acknowledged or queued change reach the disk.
      await queue.settled()
      listeners.clear()
      writeListeners.clear()
    }
  }
}
