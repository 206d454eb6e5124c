/** A queue of writes that are committed together (see createWriteBatches). */
export interface WriteBatches<T> {
  /** Resolves once the transaction holding `item` is committed; rejects with its error. */
  add (item: T): Promise<void>
  /** Writes everything waiting, now (before a read that must see it, a delete, or a close). */
  flush (): void
}

interface Waiting<T> {
  item: T
  resolve (): void
  reject (err: unknown): void
}

/**
 * Gathers the writes asked for in one turn of the event loop into transactions of at most
 * `maxItems` (`write` runs one) instead of one commit each: with synchronous SQLite a burst
 * of 1,000 commits holds the event loop for a second or more, one of 1,000 rows for a few
 * milliseconds. Durability is unchanged: each caller resolves only after the commit that
 * holds its item. Items are written in the order they were added, the loop turning between
 * two transactions. A transaction that fails is written again item by item, so one bad item
 * fails alone.
 */
export function createWriteBatches<T> (write: (items: T[]) => void, maxItems = 250): WriteBatches<T> {
  const waiting: Array<Waiting<T>> = []
  let scheduled: NodeJS.Immediate | null = null

  function writeOne (batch: Array<Waiting<T>>) {
    try {
      write(batch.map(entry => entry.item))
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err)
      for (const entry of batch) writeOne([entry])
      return
    }
    for (const entry of batch) entry.resolve()
  }

  function writeNext () {
    scheduled = null
    writeOne(waiting.splice(0, maxItems))
    if (waiting.length > 0) scheduled = setImmediate(writeNext)
  }

  return {
    add (item) {
      return new Promise((resolve, reject) => {
        waiting.push({ item, resolve, reject })
        scheduled ??= setImmediate(writeNext)
      })
    },
    flush () {
      if (scheduled !== null) clearImmediate(scheduled)
      scheduled = null
      while (waiting.length > 0) writeOne(waiting.splice(0, maxItems))
    }
  }
}
