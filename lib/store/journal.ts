import { constants } from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import { readTextFile, removeStaleTemps, replaceWith, writeTemp } from '../atomic-json-file.ts'
import type { DeltaOp } from './delta.ts'

/**
 * The change journal beside the data file (`<file>.journal`): one JSON line per line kind,
 *
 *   {"journal":1,"base":"<sha256 of the data file it follows>"}   the first line
 *   {"seq":7,"ops":[…]}                                           one acknowledged write (delta.ts)
 *   {"checkpoint":"<sha256>","through":7}                         a rewrite of the data file holds seq ≤ 7
 *
 * Each write is appended and fdatasynced before it is acknowledged. A start replays the
 * records the data file does not hold yet: all of them when the file is the base, those
 * after a checkpoint when the file is that checkpoint's rewrite (a crash between the rewrite's
 * rename and the journal's reset). A last line without its newline is a write that never
 * finished, so never acknowledged: it is ignored.
 */
export const journalPath = (file: string) => `${file}.journal`

export interface JournalRecord { seq: number, ops: DeltaOp[] }

/** What a start must do with the journal it found. */
export type Replay =
  | { kind: 'none' }
  /** Apply these records, in order, to the data file's document. */
  | { kind: 'replay', records: JournalRecord[] }
  /** The data file is neither the base nor a checkpoint: it was replaced while the server was down. */
  | { kind: 'stale', records: number }

/** Which records of the journal at `path` the data file (whose text hashes to `dataHash`) lacks. */
export async function readReplay (path: string, dataHash: string): Promise<Replay> {
  const text = await readTextFile(path)
  if (text === null) return { kind: 'none' }
  const lines = text.split('\n')
  lines.pop() // after the last newline: empty, or a line that was never completed
  let base: string | null = null
  let through: number | null = null
  const records: JournalRecord[] = []
  for (const [n, line] of lines.entries()) {
    let entry: { journal?: number, base?: string, seq?: number, ops?: DeltaOp[], checkpoint?: string, through?: number }
    try {
      entry = JSON.parse(line)
    } catch {
      throw new Error(`line ${n + 1} of ${path} is damaged`)
    }
    if (n === 0) base = typeof entry.base === 'string' ? entry.base : null
    else if (typeof entry.checkpoint === 'string' && typeof entry.through === 'number') {
      if (entry.checkpoint === dataHash) through = entry.through
    } else if (typeof entry.seq === 'number' && Array.isArray(entry.ops)) records.push({ seq: entry.seq, ops: entry.ops })
    else throw new Error(`line ${n + 1} of ${path} is not a journal entry`)
  }
  if (through === null && base === dataHash) through = 0
  if (through === null) return records.length === 0 ? { kind: 'none' } : { kind: 'stale', records: records.length }
  const missing = records.filter(record => record.seq > through)
  return missing.length === 0 ? { kind: 'none' } : { kind: 'replay', records: missing }
}

/** Moves a journal that belongs to no data file aside (its changes are kept, not applied); returns the new name. */
export async function setJournalAside (path: string): Promise<string> {
  const aside = `${path}.unmerged-${new Date().toISOString().replaceAll(':', '-')}`
  await rename(path, aside)
  return aside
}

export interface Journal {
  /**
   * Starts a new journal on the data file whose text hashes to `base`, carrying over the
   * records after `through` (appended while that rewrite was made).
   */
  reset (base: string, through: number): Promise<void>
  /** Appends one write (`line`: its JournalRecord as JSON); throws when it is not on disk. */
  append (seq: number, line: string): Promise<void>
  /** Notes that the data file's rewrite `hash` holds every record up to `through`. */
  checkpoint (hash: string, through: number): Promise<void>
  /** Records not yet in the data file. */
  readonly pending: number
  /** Deletes the journal (the data file holds everything). */
  remove (): Promise<void>
}

/**
 * The journal's writer. Its operations run one at a time, so a reset never loses a record
 * appended meanwhile: the new journal is written with every record the rewrite lacks.
 */
export function createJournal (file: string): Journal {
  const path = journalPath(file)
  /** The lines after the header: what a reset carries over. */
  let records: Array<{ seq: number, line: string }> = []
  let tail: Promise<unknown> = Promise.resolve()
  let staleTempsRemoved = false

  function exclusive<T> (operation: () => Promise<T>): Promise<T> {
    const run = tail.then(operation)
    tail = run.catch(() => {})
    return run
  }

  /** Appends a line to the existing journal (never creates one: a journal gone means a full write). */
  async function appendLine (line: string) {
    const handle = await open(path, constants.O_WRONLY | constants.O_APPEND)
    const { size } = await handle.stat()
    try {
      await handle.write(line + '\n')
      await handle.datasync()
    } catch (err) {
      // Take back what part of the line landed, so a rejected write is never replayed.
      await handle.truncate(size).catch(() => {})
      throw err
    } finally {
      await handle.close()
    }
  }

  return {
    reset: (base, through) => exclusive(async () => {
      if (!staleTempsRemoved) { await removeStaleTemps(path); staleTempsRemoved = true }
      const kept = records.filter(record => record.seq > through)
      const header = JSON.stringify({ journal: 1, base })
      await replaceWith(await writeTemp(path, [[header, ...kept.map(record => record.line)].join('\n') + '\n']), path)
      records = kept
    }),
    append: (seq, line) => exclusive(async () => {
      await appendLine(line)
      records.push({ seq, line })
    }),
    checkpoint: (hash, through) => exclusive(() => appendLine(JSON.stringify({ checkpoint: hash, through }))),
    get pending () { return records.length },
    remove: () => exclusive(() => rm(path, { force: true }))
  }
}
