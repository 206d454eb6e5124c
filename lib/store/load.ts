import { stat } from 'node:fs/promises'
import type { StoreDocument } from '../../schemas/config.ts'
import { describeJsonError } from '../errors.ts'
import { documentText } from './document-text.ts'

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

export interface DataFile {
  readText (): Promise<string | null>
  prepare (): Promise<void>
  write (document: StoreDocument): Promise<void>
}

export interface Loaded {
  document: StoreDocument
  /** Why changes must be refused, or null when the file is writable. */
  readOnly: string | null
}

/**
 * Reads, checks and normalises the data file at start, and writes the normalised document
 * back when it differs. A file the operator made read-only (no write permission bit, or a
 * directory we cannot write) is served read-only instead of being replaced; a missing file
 * is created; everything else that stops the start is a DataFileError.
 */
export async function loadDataFile (file: string, dataFile: DataFile, check: (value: unknown) => StoreDocument, empty: StoreDocument): Promise<Loaded> {
  let text: string | null
  try {
    text = await dataFile.readText()
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
  let document: StoreDocument
  try {
    document = check(parsed)
  } catch (err) {
    throw new DataFileError(`The data file ${file} is not a valid estatus configuration: ${(err as Error).message}`)
  }
  // A crash may have left a temp file of ours beside the file: gone at the start, not at the first change.
  await dataFile.prepare().catch(() => {})
  if (text !== null && ((await stat(file)).mode & 0o222) === 0) {
    return { document, readOnly: `${file} is read-only (no write permission)` }
  }
  if (text === documentText(document)) return { document, readOnly: null }
  try {
    await dataFile.write(document)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (text !== null && NOT_WRITABLE.has(code)) return { document, readOnly: `${file} cannot be replaced: ${describeFsError(err)}` }
    throw new DataFileError(`Cannot write the data file ${file}: ${describeFsError(err)}`)
  }
  return { document, readOnly: null }
}
