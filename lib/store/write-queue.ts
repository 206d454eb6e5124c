import type { StoreDocument } from '../../schemas/config.ts'
import type { Applied, ChangeSet, Mutation } from './types.ts'

export type Apply<T> = (document: StoreDocument) => Applied<T>

export interface WriteQueueHooks {
  /** The committed document the next batch starts from. */
  committed (): StoreDocument
  /** Persists a draft; throws when it could not (the batch is then rejected with `failure`). */
  persist (draft: StoreDocument): Promise<void>
  /** The draft is on disk: it becomes the committed document. */
  commit (draft: StoreDocument): void
  /** The error every caller of a batch that could not be written gets. */
  failure (err: unknown): Error
  /** Runs the change listeners for one applied mutation. */
  publish (changes: ChangeSet): void
  /** The queue ran empty. */
  idle (): void
}

export interface WriteQueue {
  enqueue<T> (apply: Apply<T>): Promise<Mutation<T>>
  /** A write is queued or in flight. */
  readonly busy: boolean
  /** Resolves once every queued change is written (or refused). */
  settled (): Promise<void>
}

interface Pending { apply: Apply<unknown>, resolve (mutation: Mutation<unknown>): void, reject (err: unknown): void }

/**
 * Serialized, batched writes. Mutations queue up while a write is in flight; the next write
 * carries all of them. Each is applied to the draft in order (a failing one is rejected
 * alone), and every caller resolves only after the write that contains its change has
 * completed and the listeners have run.
 */
export function createWriteQueue (hooks: WriteQueueHooks): WriteQueue {
  let queue: Pending[] = []
  let writing: Promise<void> | null = null

  async function drain () {
    while (queue.length > 0) {
      const batch = queue
      queue = []
      let draft = hooks.committed()
      const applied: Array<{ pending: Pending, value: unknown, changes: ChangeSet }> = []
      for (const pending of batch) {
        try {
          const result = pending.apply(draft)
          draft = result.document
          applied.push({ pending, value: result.value, changes: result.changes })
        } catch (err) {
          pending.reject(err)
        }
      }
      if (applied.length === 0) continue
      try {
        await hooks.persist(draft)
      } catch (err) {
        const failure = hooks.failure(err)
        for (const { pending } of applied) pending.reject(failure)
        continue
      }
      hooks.commit(draft)
      for (const { pending, value, changes } of applied) {
        hooks.publish(changes)
        pending.resolve({ value, changes })
      }
    }
    writing = null
    hooks.idle()
  }

  return {
    enqueue<T> (apply: Apply<T>) {
      return new Promise<Mutation<T>>((resolve, reject) => {
        queue.push({ apply, resolve: resolve as Pending['resolve'], reject })
        // Started on a later tick: mutations of the same tick share the write, and `writing`
        // is set before drain() can clear it.
        writing ??= Promise.resolve().then(drain)
      })
    },
    get busy () { return writing !== null },
    async settled () {
      // eslint-disable-next-line no-unmodified-loop-condition -- drain() clears it while this awaits
      while (writing !== null) await writing
    }
  }
}
