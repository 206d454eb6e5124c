import type { StoreDocument } from '../schemas/config.ts'
import { readTextFile } from './atomic-json-file.ts'
import { HttpError } from './errors.ts'
import { sortGroups } from './normalize.ts'
import { copyInput, createValidators } from './document.ts'
import { etagOf } from './store/etag.ts'
import { watchHandEdits, type HandEditWatcher } from './store/hand-edits.ts'
import { describeFsError, loadDataFile } from './store/load.ts'
import { findById } from './store/lookup.ts'
import * as mutations from './store/mutations.ts'
import { noChanges, type Applied, type ChangeSet, type ConfigStore, type ConfigStoreOptions, type StoreHealth } from './store/types.ts'
import { createPersistence } from './store/persistence.ts'
import { createWriteQueue, type Apply } from './store/write-queue.ts'
import { createListeners } from './listeners.ts'

export type { ChangeSet, ServerUpdate, Mutation, Precondition, ChangeListener, StoreHealth, ConfigStoreOptions, ConfigStore } from './store/types.ts'
export { DataFileError } from './store/load.ts'

const EMPTY_DOCUMENT: StoreDocument = { version: 1, nextServerId: 1, nextGroupId: 1, servers: [], groups: [] }

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

/**
 * The configuration store: one document in one data file. This module wires the parts in
 * lib/store/: the pure mutations, the write queue that persists them, the hand-edit
 * watcher, ETags and lookups.
 */
export async function createConfigStore (options: ConfigStoreOptions): Promise<ConfigStore> {
  const { file, log } = options
  const { parseServer, parseGroup, checkDocument } = createValidators()
  const health = healthTracker()
  let handEdits: HandEditWatcher | null = null
  const loaded = await loadDataFile(file, log, checkDocument, EMPTY_DOCUMENT, document => createPersistence({
    file,
    log,
    document,
    fileWritten: () => health.fileWritten(),
    compactionFailed: err => health.rewriteFailed(`could not rewrite ${file} from its journal: ${describeFsError(err)}; the changes are kept in the journal`),
    idle: () => handEdits?.afterWrites()
  }))
  const { readOnly, persistence } = loaded
  if (readOnly !== null) {
    log.warn({ file, reason: readOnly }, 'the data file is not writable: serving the configuration read-only')
    health.readOnly(readOnly)
  }

  let committed: StoreDocument = deepFreeze(loaded.document)
  let sortedGroups = { of: committed.groups, sorted: sortGroups(committed.groups) }
  const listeners = createListeners<ChangeSet>(log, () => [{}, 'a configuration change listener failed'])
  // A failing observer (metrics) must not turn a write that landed into a failed one.
  const writeListeners = createListeners<number>(log, () => [{}, 'a data-file write listener failed'])

  const queue = createWriteQueue({
    committed: () => committed,
    async persist (draft) {
      // Read-only, only hand edits get here (the API is refused): they are applied unwritten.
      if (persistence === null) return
      const started = process.hrtime.bigint()
      // A file holding a rejected hand edit is replaced by the next write, not left for the background.
      await persistence.persist(committed, draft, health.holdsRejectedEdit)
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      writeListeners.emit(seconds)
    },
    commit (draft) {
      committed = deepFreeze(draft)
      health.written()
    },
    failure (err) {
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

  if (options.watchFile !== false) {
    handEdits = watchHandEdits({
      file,
      log,
      debounceMs: options.watchDebounceMs ?? 100,
      readText: () => readTextFile(file),
      isLastWrittenText: text => persistence?.isLastWrittenText(text) ?? false,
      isLastWritten: stats => persistence?.isLastWritten(stats) ?? false,
      writing: () => queue.busy || (persistence?.busy ?? false),
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
    replace: async input => change(replacing(input, checkDocument)),
    onChange: listeners.add,
    onWrite: writeListeners.add,
    health: health.report,
    flush: async () => { await queue.settled(); await persistence?.flush() },
    async close () {
      handEdits?.close()
      // Let every acknowledged or queued change reach the disk, and the data file itself.
      await queue.settled()
      await persistence?.close()
      listeners.clear()
      writeListeners.clear()
    }
  }
}
