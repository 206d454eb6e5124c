import { watch, type FSWatcher, type Stats } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { describeJsonError } from '../errors.ts'
import type { ChangeSet } from './types.ts'

export interface HandEditOptions {
  file: string
  log: FastifyBaseLogger
  /** Quiet period after a file-system event before the file is read. */
  debounceMs: number
  readText (): Promise<string | null>
  /** `text` is what the store wrote last: the file still holding it was not edited. */
  isLastWrittenText (text: string): boolean
  /** The file is still the one the store wrote last, judged by its metadata alone. */
  isLastWritten (stats: Stats): boolean
  /** This version of the file has been read (and applied or rejected): the store may write over it. */
  seen (stats: Stats): void
  /** A write of ours is queued or in flight: look once it has landed. */
  writing (): boolean
  /** Applies an edited document as a replacement of the configuration. */
  apply (edited: unknown): Promise<ChangeSet>
  /** The file is gone: write the current configuration back. */
  restore (): void
  /** The file holds a good configuration again (or the store's own write). */
  healthy (): void
  /** The file could not be read, or holds an edit that was rejected. */
  unhealthy (error: string): void
}

export interface HandEditWatcher {
  /** Called when the store's writes have settled: a look that had to wait happens now. */
  afterWrites (): void
  close (): void
}

/**
 * Picks up hand edits of the data file while running (SPEC §5, last rule): a file-system
 * event, a quiet period, one look at a time. A valid edit replaces the configuration and
 * is published like any change; an invalid one is rejected and reported by `/health`,
 * and the last good configuration is kept.
 */
export function watchHandEdits (options: HandEditOptions): HandEditWatcher {
  const { file, log } = options
  let debounce: NodeJS.Timeout | null = null
  let wanted = false
  let checking = false
  let closed = false

  /** One look at a time; a change seen meanwhile gets another look afterwards. */
  async function check () {
    if (checking) { wanted = true; return }
    checking = true
    try {
      await inspect()
    } finally {
      checking = false
    }
    if (wanted && !options.writing()) void check()
  }

  async function inspect () {
    wanted = false
    if (closed) return
    if (options.writing()) { wanted = true; return }
    // Our own writes trigger the watcher too: they are recognised without reading megabytes.
    const stats = await stat(file).catch(() => null)
    if (stats !== null && options.isLastWritten(stats) && !options.writing()) {
      options.healthy()
      return
    }
    let text: string | null
    try {
      text = await options.readText()
    } catch (err) {
      options.unhealthy(`cannot read ${file}: ${(err as Error).message}`)
      log.error({ err, file }, 'cannot read the data file back')
      return
    }
    if (closed || options.writing()) { wanted = options.writing(); return }
    if (text !== null && stats !== null) options.seen(stats)
    if (text !== null && options.isLastWrittenText(text)) {
      options.healthy() // a rejected edit was undone by hand
      return
    }
    if (text === null) {
      log.warn({ file }, 'the data file was removed by hand; writing the current configuration back')
      options.restore()
      return
    }
    try {
      const changes = await options.apply(JSON.parse(text))
      log.info({ file, added: changes.serversAdded.length, updated: changes.serversUpdated.length, removed: changes.serversRemoved.length, groupsChanged: changes.groups !== null }, 'applied a hand edit of the data file')
    } catch (err) {
      const reason = err instanceof SyntaxError ? describeJsonError(err, text) : (err as Error).message
      options.unhealthy(`hand edit of ${file} rejected, last good configuration kept: ${reason}`)
      log.error({ file, reason }, 'rejected a hand edit of the data file; keeping the last good configuration')
    }
  }

  const name = basename(file)
  const watcher: FSWatcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
    if (changed !== null && changed !== name) return
    if (debounce) clearTimeout(debounce)
    debounce = setTimeout(() => { debounce = null; void check() }, options.debounceMs)
  })
  watcher.on('error', err => log.error({ err, file }, 'watching the data file failed; hand edits will not be picked up'))

  return {
    afterWrites () {
      if (wanted) void check()
    },
    close () {
      closed = true
      watcher.close()
      if (debounce) clearTimeout(debounce)
    }
  }
}
