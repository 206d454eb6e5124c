import { open, readFile, rename, rm } from 'node:fs/promises'
import { createHash, randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import type { Adapter } from 'lowdb'

export const contentHash = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * A lowdb adapter that writes the whole document to a temp file with a unique name,
 * fsyncs it and renames it over the target: a crash at any instant leaves either the old
 * or the new document. (lowdb's own JSONFile uses steno, whose fixed temp name two
 * processes would share, and which does not fsync.)
 */
export function atomicJsonFile<T> (file: string) {
  const directory = dirname(file)
  let lastWrittenHash: string | null = null

  const adapter: Adapter<T> & { readText (): Promise<string | null>, readonly lastWrittenHash: string | null } = {
    get lastWrittenHash () { return lastWrittenHash },

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

    async write (data: T) {
      const text = JSON.stringify(data, null, 2) + '\n'
      const temp = join(directory, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
      const handle = await open(temp, 'wx', 0o600)
      try {
        await handle.writeFile(text)
        await handle.sync()
      } catch (err) {
        await handle.close()
        await rm(temp, { force: true })
        throw err
      }
      await handle.close()
      try {
        lastWrittenHash = contentHash(text)
        await rename(temp, file)
      } catch (err) {
        await rm(temp, { force: true })
        throw err
      }
    }
  }
  return adapter
}
