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

/**
 * A lowdb adapter that writes the whole document to a temp file with a unique name,
 * fsyncs it and renames it over the target: a crash at any instant leaves either the old
 * or the new document. (lowdb's own JSONFile uses steno, whose fixed temp name two
 * processes would share, and which does not fsync.)
 *
 * A process killed mid-write leaves its temp file behind; the first write of an adapter
 * removes those of processes that are gone, so they do not pile up over crashes. (Those
 * named with our own pid are left alone: another adapter of this process may be writing
 * one.) It also creates the file's directory if needed.
 */
export function atomicJsonFile<T> (file: string, serialize: (data: T) => string = data => JSON.stringify(data, null, 2) + '\n') {
  const directory = dirname(file)
  const tempPrefix = `.${basename(file)}.`
  const tempName = /^(\d+)\.[0-9a-f]+\.tmp$/
  let lastWrittenText: string | null = null
  let lastWrittenStats: Stats | null = null
  let staleTempsChecked = false

  async function removeStaleTemps () {
    let names: string[]
    try { names = await readdir(directory) } catch { return }
    for (const name of names) {
      if (!name.startsWith(tempPrefix)) continue
      const pid = tempName.exec(name.slice(tempPrefix.length))?.[1]
      const path = join(directory, name)
      if (pid === undefined || Number(pid) === process.pid) continue
      if (!isAlive(Number(pid))) await rm(path, { force: true }).catch(() => {})
    }
  }

  const adapter: Adapter<T> & { readText (): Promise<string | null>, readonly lastWrittenText: string | null, isLastWritten (stats: Stats): boolean, prepare (): Promise<void> } = {
    /** What this adapter wrote last: a file that still reads so holds no hand edit. */
    get lastWrittenText () { return lastWrittenText },

    /** The file is still the one this adapter wrote last (same inode, size and mtime): no need to read it. */
    isLastWritten (stats: Stats) {
      const last = lastWrittenStats
      return last !== null && stats.dev === last.dev && stats.ino === last.ino && stats.size === last.size && stats.mtimeMs === last.mtimeMs
    },

    async readText () {
      try {
        return await readFile(file, 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
        throw err
      }
    },

    async read () {
      const text = await adapter.readText()
      return text === null || text.trim() === '' ? null : JSON.parse(text) as T
    },

    /** Creates the folder if needed and removes the temp files of dead processes (once). */
    async prepare () {
      if (staleTempsChecked) return
      await mkdir(directory, { recursive: true })
      staleTempsChecked = true
      await removeStaleTemps()
    },

    async write (data: T) {
      await adapter.prepare()
      const text = serialize(data)
      const temp = join(directory, `${tempPrefix}${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
      const handle = await open(temp, 'wx', 0o600)
      try {
        await handle.writeFile(text)
        await handle.sync()
        lastWrittenStats = await handle.stat()
      } catch (err) {
        await handle.close()
        await rm(temp, { force: true })
        throw err
      }
      await handle.close()
      try {
        lastWrittenText = text
        await rename(temp, file)
      } catch (err) {
        await rm(temp, { force: true })
        throw err
      }
    }
  }
  return adapter
}
