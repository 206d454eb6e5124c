import type { StoreDocument } from '../../schemas/config.ts'
import type { Applied, ChangeSet, Mutation } from './types.ts'

export type Apply<T> = (document: StoreDocument) => Applied<T>

export interface WriteQueueHooks {
  /** The committed document the next batch starts from. */
  committed (): StoreDocument
  /**
   * Persists a draft with the changes it holds; throws when it could not (the batch is then
   * rejected with `failure`), or StaleDocument when the stored configuration moved on meanwhile.
   */
  persist (draft: StoreDocument, changes: readonly ChangeSet[]): Promise<void>
  /** After StaleDocument: brings `committed()` up to what is stored, before the batch is applied again. */
  catchUp? (): Promise<void>
  /** Runs one batch, from applying it to its commit, exclusively of other changes to the committed document. */
  exclusive<T> (work: () => Promise<T>): Promise<T>
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

/**
 * The stored configuration is ahead of the committed document the batch was applied to
 * (another node of a cluster wrote meanwhile): it is caught up and applied again.
 */
export class StaleDocument extends Error {
  constructor () {
    super('the configuration was changed elsewhere meanwhile')
    this.name = 'StaleDocument'
  }
}

/** A batch applied again this often without landing gives up (every round, another node landed a change). */
const MAX_ROUNDS = 50

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

  /**
   * Applies a batch to the committed document and persists it; on StaleDocument, catches up
   * and applies what is left of it again (mutations are pure: applying again is safe, and a
   * change now refused — a stale If-Match — is rejected then).
   */
  async function runBatch (batch: Pending[]) {
    for (let round = 1; ; round++) {
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
      if (applied.length === 0) return
      try {
        try {
          await hooks.persist(draft, applied.map(({ changes }) => changes))
        } catch (err) {
          if (!(err instanceof StaleDocument) || hooks.catchUp === undefined || round >= MAX_ROUNDS) throw err
          batch = applied.map(({ pending }) => pending)
          await hooks.catchUp()
          continue
        }
      } catch (err) {
        const failure = hooks.failure(err)
        for (const { pending } of applied) pending.reject(failure)
        return
      }
      hooks.commit(draft)
      for (const { pending, value, changes } of applied) {
        hooks.publish(changes)
        pending.resolve({ value, changes })
      }
      return
    }
  }

  async function drain () {
    while (queue.length > 0) {
      const batch = queue
      queue = []
      await hooks.exclusive(() => runBatch(batch))
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
