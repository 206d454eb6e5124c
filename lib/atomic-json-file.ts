import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import type { Adapter } from 'lowdb'

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

const tempName = /^(\d+)\.[0-9a-f]+\.tmp$/
const tempPrefix = (file: string) => `.${basename(file)}.`

/**
 * Removes the temp files that processes now gone left beside `file` when killed mid-write,
 * so they do not pile up over crashes. (Those named with our own pid are left alone:
 * another writer of this process may be writing one.)
 */
export async function removeStaleTemps (file: string) {
  const directory = dirname(file)
  let names: string[]
  try { names = await readdir(directory) } catch { return }
  for (const name of names) {
    if (!name.startsWith(tempPrefix(file))) continue
    const pid = tempName.exec(name.slice(tempPrefix(file).length))?.[1]
    if (pid === undefined || Number(pid) === process.pid) continue
    if (!isAlive(Number(pid))) await rm(join(directory, name), { force: true }).catch(() => {})
  }
}

/** A temp file beside its target, written and fsynced, not yet in place. */
export interface TempFile { path: string, stats: Stats }

/** A large temp file is flushed to the disk every this many bytes (see writeTemp). */
const SYNC_EVERY_BYTES = 2 * 1024 * 1024

/**
 * Writes `chunks` to a new temp file with a unique name beside `file` and fsyncs it. Awaiting
 * each chunk's write lets other work run between chunks of a large document; flushing every
 * few MB as it goes keeps the final fsync short, so a small fdatasync elsewhere on the same
 * file system (the journal's) never waits behind 11 MB of dirty pages in one go.
 */
export async function writeTemp (file: string, chunks: Iterable<string>): Promise<TempFile> {
  const path = join(dirname(file), `${tempPrefix(file)}${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(path, 'wx', 0o600)
  try {
    let unsynced = 0
    for (const chunk of chunks) {
      // writeFile writes all of it (write() may stop short), from where the last chunk ended.
      await handle.writeFile(chunk)
      unsynced += Buffer.byteLength(chunk)
      if (unsynced >= SYNC_EVERY_BYTES) { await handle.datasync(); unsynced = 0 }
    }
    await handle.sync()
    const stats = await handle.stat()
    await handle.close()
    return { path, stats }
  } catch (err) {
    await handle.close().catch(() => {})
    await rm(path, { force: true })
    throw err
  }
}

/**
 * Renames a temp file over its target, then fsyncs the folder so the new name survives a
 * power loss as well as a crash (where the platform lets a folder be fsynced).
 */
export async function replaceWith (temp: TempFile, file: string) {
  try {
    await rename(temp.path, file)
  } catch (err) {
    await rm(temp.path, { force: true })
    throw err
  }
  const directory = await open(dirname(file), 'r').catch(() => null)
  if (directory !== null) await directory.sync().catch(() => {}).finally(() => directory.close())
}

/**
 * A lowdb adapter that writes the whole document to a temp file with a unique name,
 * fsyncs it and renames it over the target: a crash at any instant leaves either the old
 * or the new document. (lowdb's own JSONFile uses steno, whose fixed temp name two
 * processes would share, and which does not fsync.) Its first write removes the temp files
 * of dead processes and creates the file's directory if needed.
 */
export function atomicJsonFile<T> (file: string, serialize: (data: T) => string = data => JSON.stringify(data, null, 2) + '\n') {
  let prepared = false
  const adapter: Adapter<T> & { readText (): Promise<string | null> } = {
    readText: () => readTextFile(file),

    async read () {
      const text = await adapter.readText()
      return text === null || text.trim() === '' ? null : JSON.parse(text) as T
    },

    async write (data: T) {
      if (!prepared) {
        await mkdir(dirname(file), { recursive: true })
        await removeStaleTemps(file)
        prepared = true
      }
      await replaceWith(await writeTemp(file, [serialize(data)]), file)
    }
  }
  return adapter
}

/** A text file's content, or null when there is none. */
export async function readTextFile (file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}
