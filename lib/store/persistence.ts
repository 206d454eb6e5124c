import { createHash } from 'node:crypto'
import type { Stats } from 'node:fs'
import { rm, stat } from 'node:fs/promises'
import type { FastifyBaseLogger } from 'fastify'
import { replaceWith, writeTemp } from '../atomic-json-file.ts'
import type { DeltaOp } from './delta.ts'
import { documentChunks } from './document-text.ts'
import { createJournal } from './journal.ts'

/** A journal record larger than this (a replacement of the configuration) is written as a whole file instead. */
const MAX_RECORD_CHARS = 256 * 1024
/** The data file lags the journal by at most about this long while writes keep coming. */
const MAX_COMPACTION_DELAY_MS = 5_000
/** A compaction waits this many times its last duration: under a stream of writes it takes at most a fifth of the time. */
const DELAY_PER_COMPACTION_MS = 4
const RETRY_AFTER_FAILURE_MS = 1_000

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

export interface PersistenceOptions {
  file: string
  log: FastifyBaseLogger
  /** The document the data file and journal hold after the start. */
  document: object
  /** The data file now holds every acknowledged write. */
  fileWritten (): void
  /** A background rewrite of the data file failed (the writes stay safe in the journal). */
  compactionFailed (error: unknown): void
  /** A background rewrite ended: the hand-edit watcher may look now. */
  idle (): void
  /** The data file holds a hand edit that was rejected: it is left for the user until the next write replaces it. */
  holdsRejectedEdit (): boolean
}

export interface Persistence {
  /**
   * Makes `next` durable: its difference from the document persisted before (`ops`, see
   * deltaOf) appended to the journal, or the whole file rewritten — when asked (`wholeFile`),
   * when nothing changed (a request to write the file back), when the difference is large
   * (a replacement) or the journal fails.
   */
  persist (ops: readonly DeltaOp[], next: object, wholeFile?: boolean): Promise<void>
  /** Rewrites the data file from `document` now (start-up normalisation, replay). */
  rewrite (document: object): Promise<void>
  /** Starts a journal on the data file as it is (text hash), when nothing needs rewriting at start. */
  start (dataHash: string): Promise<void>
  /** Resolves once the data file itself holds every acknowledged write. */
  flush (): Promise<void>
  /** A rewrite of the data file is scheduled or in flight. */
  readonly busy: boolean
  /** The file is still the one written last (same inode, size and mtime): no need to read it. */
  isLastWritten (stats: Stats): boolean
  /** The hand-edit watcher has taken this version of the file in (applied or rejected it): a rewrite may replace it. */
  adopt (stats: Stats): void
  /** `text` is what was written last: a file that reads so holds no hand edit. */
  isLastWrittenText (text: string): boolean
  close (): Promise<void>
}

/**
 * How the store's document reaches the disk (README, "Inside the store"). Every write is
 * one small record appended to the journal and fdatasynced before the caller is answered;
 * the data file itself — the file users read and hand-edit — is rewritten in the background
 * from the committed document (compaction), bursts of writes coalesced into one rewrite,
 * at most one in flight, as temp file + fsync + rename. Generic over the document's content.
 */
export function createPersistence (options: PersistenceOptions): Persistence {
  const { file, log } = options
  const journal = createJournal(file)
  let latest = options.document
  let seq = 0
  /** Appends are refused (a failed append, or no journal yet): the next write rewrites the file and starts a new journal. */
  let journalUsable = false
  let lastWritten: { stats: Stats, hash: string } | null = null
  let rewriting: Promise<void> | null = null
  let timer: NodeJS.Timeout | null = null
  let lastRewriteMs = 0
  let closed = false
  /** A version of the file edited by hand that the watcher has read since: no longer news. */
  let adopted: Stats | null = null

  const sameFile = (a: Stats, b: Stats) => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs
  /**
   * The file holds an edit the watcher has not read yet: a background rewrite now would
   * replace it unseen. (A window of one `stat` remains between this look and the rename.)
   */
  async function unreadEdit (): Promise<boolean> {
    if (lastWritten === null) return false
    const now = await stat(file).catch(() => null)
    return now !== null && !sameFile(now, lastWritten.stats) && (adopted === null || !sameFile(now, adopted))
  }

  /** Writes the data file from `document` (holding every record up to `through`), then resets the journal. */
  async function writeFile (document: object, through: number, { strict }: { strict: boolean }) {
    const started = performance.now()
    const hash = createHash('sha256')
    const temp = await writeTemp(file, (function * () {
      for (const chunk of documentChunks(document)) { hash.update(chunk); yield chunk }
    })())
    const digest = hash.digest('hex')
    if (strict && await unreadEdit()) {
      // In the background: the watcher reads the edit first (and applies or rejects it); the journal keeps the writes meanwhile.
      await rm(temp.path, { force: true })
      schedule(RETRY_AFTER_FAILURE_MS)
      return
    }
    try {
      // Should a crash follow the rename, the start sees from this line which records the new file lacks.
      await journal.checkpoint(digest, through)
    } catch (err) {
      // In the background, records after `through` may sit in this journal: then no rewrite.
      // (A full write holds every record there is: it goes ahead.)
      if (strict && journalUsable) { await rm(temp.path, { force: true }); throw err }
    }
    lastWritten = { stats: temp.stats, hash: digest }
    await replaceWith(temp, file)
    lastRewriteMs = performance.now() - started
    options.fileWritten()
    try {
      await journal.reset(digest, through)
      journalUsable = true
    } catch (err) {
      // The old journal (with its checkpoint) still serves if it was usable; otherwise the
      // next write rewrites the file again.
      log.warn({ err, file }, 'could not start a new journal for the data file')
    }
  }

  /** Runs `write` after any rewrite in flight; rewrites never overlap. */
  function serially (write: () => Promise<void>): Promise<void> {
    const run = (rewriting ?? Promise.resolve()).catch(() => {}).then(write)
    const settled = run.catch(() => {}).finally(() => {
      if (rewriting === settled) rewriting = null
      if (rewriting === null) options.idle()
    })
    rewriting = settled
    return run
  }

  function schedule (delayMs = Math.min(MAX_COMPACTION_DELAY_MS, DELAY_PER_COMPACTION_MS * lastRewriteMs)) {
    if (timer !== null || closed) return
    timer = setTimeout(() => {
      timer = null
      void compact().catch(err => {
        options.compactionFailed(err)
        log.error({ err, file }, 'could not rewrite the data file from its journal; the changes are kept in the journal, retrying')
        schedule(Math.max(RETRY_AFTER_FAILURE_MS, lastRewriteMs))
      })
    }, delayMs)
    timer.unref()
  }

  /** Brings the data file up to the latest write (a no-op when the journal holds nothing). */
  function compact (): Promise<void> {
    return serially(async () => {
      if ((journal.pending === 0 && journalUsable) || options.holdsRejectedEdit()) return
      await writeFile(latest, seq, { strict: true })
      if (journal.pending > 0) schedule()
    })
  }

  async function flush () {
    if (timer !== null) { clearTimeout(timer); timer = null }
    // eslint-disable-next-line no-unmodified-loop-condition -- serially() clears it while this awaits
    while (rewriting !== null) await rewriting
    if (journal.pending > 0 || !journalUsable) await compact()
  }

  return {
    async persist (ops, next, wholeFile = false) {
      if (ops.length > 0 && journalUsable && !wholeFile) {
        const line = JSON.stringify({ seq: seq + 1, ops })
        if (line.length <= MAX_RECORD_CHARS) {
          try {
            await journal.append(seq + 1, line)
            seq++
            latest = next
            schedule()
            return
          } catch (err) {
            journalUsable = false
            log.warn({ err, file }, 'could not append to the journal of the data file; writing the whole file')
          }
        }
      }
      // The write queue runs one persist at a time, so nothing is appended meanwhile.
      await serially(() => writeFile(next, seq, { strict: false }))
      latest = next
    },
    rewrite: document => serially(() => writeFile(document, seq, { strict: false })),
    start: dataHash => serially(async () => {
      await journal.reset(dataHash, seq)
      journalUsable = true
      // The file as loaded is ours: an edit of it after this start is told apart from it.
      const stats = await stat(file).catch(() => null)
      if (stats !== null) lastWritten = { stats, hash: dataHash }
    }),
    flush,
    get busy () { return rewriting !== null },
    isLastWritten (stats) {
      return lastWritten !== null && sameFile(stats, lastWritten.stats)
    },
    isLastWrittenText: text => lastWritten !== null && sha256(text) === lastWritten.hash,
    adopt (stats) { adopted = stats },
    async close () {
      try {
        await flush()
        closed = true
        // Everything is in the data file: the journal is not needed until the next start.
        await journal.remove()
      } catch (err) {
        closed = true
        log.error({ err, file }, 'could not bring the data file up to date at close; the journal keeps the changes for the next start')
      }
    }
  }
}
