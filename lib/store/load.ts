import { mkdir, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import type { StoreDocument } from '../../schemas/config.ts'
import { readTextFile, removeStaleTemps } from '../atomic-json-file.ts'
import { describeJsonError } from '../errors.ts'
import { withDelta } from './delta.ts'
import { documentText } from './document-text.ts'
import { journalPath, readReplay, setJournalAside, type Replay } from './journal.ts'
import { sha256, type Persistence } from './persistence.ts'

/**
 * Why the store cannot start on its data file, as one line naming the file and the
 * problem. It never quotes the file (V8's JSON messages do: a community could leak) and
 * carries no cause; `server.ts` prints its message alone.
 */
export class DataFileError extends Error {
  readonly code = 'ESTATUS_DATA_FILE'
  constructor (message: string) {
    super(message)
    this.name = 'DataFileError'
  }
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of its path is not a directory',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exhausted',
  ELOOP: 'too many symbolic links'
}

/** A file-system error in words, without its message (which may carry more than we want to show). */
export const describeFsError = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code
  return (code && REASONS[code]) ?? code ?? 'unexpected error'
}

const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS'])

/** The data file's text, its document with the journal's missing writes applied, and what the journal held. */
async function readStored (file: string, empty: unknown): Promise<{ text: string | null, parsed: unknown, replay: Replay }> {
  let text: string | null
  try {
    text = await readTextFile(file)
  } catch (err) {
    throw new DataFileError(`Cannot read the data file ${file}: ${describeFsError(err)}`)
  }
  let parsed: unknown = structuredClone(empty)
  if (text !== null && text.trim() !== '') {
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new DataFileError(`The data file ${file} is not valid JSON: ${describeJsonError(err, text)}`)
    }
  }
  const journal = journalPath(file)
  let replay: Replay
  try {
    replay = await readReplay(journal, sha256(text ?? ''))
    if (replay.kind === 'replay') {
      if (typeof parsed !== 'object' || parsed === null) throw new Error('the data file holds no document to apply it to')
      for (const record of replay.records) parsed = withDelta(parsed as object, record.ops)
    }
  } catch (err) {
    throw new DataFileError(`Cannot replay the journal ${journal}: ${err instanceof Error && !(err as NodeJS.ErrnoException).code ? err.message : describeFsError(err)}`)
  }
  return { text, parsed, replay }
}

/**
 * What the store holds, read without starting it (the export and import scripts): the data
 * file with the journal's writes it lacks applied; null when there is no configuration.
 */
export async function readStoredDocument (file: string): Promise<unknown> {
  return (await readStored(file, null)).parsed
}

export interface Loaded {
  document: StoreDocument
  /** Why changes must be refused, or null when the file is writable. */
  readOnly: string | null
  /** How changes reach the disk; null when read-only. */
  persistence: Persistence | null
}

/**
 * Reads, checks and normalises the data file at start, replaying the journal's writes the
 * file does not hold yet (a crash came before their rewrite), and writes the result back when
 * it differs from the file; otherwise starts a new journal on the file as it is. A file the
 * operator made read-only (no write permission bit, or a directory we cannot write) is served
 * read-only instead of being replaced; a missing file is created; a journal that belongs to
 * another version of the file (replaced while the server was down) is set aside with a
 * warning, the file winning; everything else that stops the start is a DataFileError.
 */
export async function loadDataFile (file: string, log: FastifyBaseLogger, check: (value: unknown) => StoreDocument, empty: StoreDocument,
  persistence: (document: StoreDocument) => Persistence): Promise<Loaded> {
  const { text, parsed, replay } = await readStored(file, empty)
  let document: StoreDocument
  try {
    document = check(parsed)
  } catch (err) {
    throw new DataFileError(`The data file ${file} is not a valid estatus configuration: ${(err as Error).message}`)
  }
  // A crash may have left a temp file of ours beside the file: gone at the start, not at the first change.
  await removeStaleTemps(file)
  if (text !== null && ((await stat(file)).mode & 0o222) === 0) {
    return { document, readOnly: `${file} is read-only (no write permission)`, persistence: null }
  }
  if (replay.kind === 'stale') {
    const aside = await setJournalAside(journalPath(file)).catch(() => journalPath(file))
    log.warn({ file, journal: aside, changes: replay.records }, 'the data file was replaced while the server was down: it is used as it is, and the changes its journal held are kept aside, not applied')
  }
  const writer = persistence(document)
  try {
    await mkdir(dirname(file), { recursive: true })
    if (replay.kind === 'replay' || text !== documentText(document)) await writer.rewrite(document)
    else await writer.start(sha256(text ?? ''))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (text !== null && NOT_WRITABLE.has(code)) return { document, readOnly: `${file} cannot be replaced: ${describeFsError(err)}`, persistence: null }
    throw new DataFileError(`Cannot write the data file ${file}: ${describeFsError(err)}`)
  }
  return { document, readOnly: null, persistence: writer }
}
