import type { FastifyBaseLogger } from 'fastify'

/**
 * A set of listeners called in turn: one that throws is logged and never keeps the value
 * from the others, nor fails the caller.
 */
export function createListeners<T> (log: FastifyBaseLogger, failed: (value: T) => [Record<string, unknown>, string]) {
  const listeners = new Set<(value: T) => void>()
  return {
    /** Returns the unsubscribe function. */
    add (listener: (value: T) => void): () => void {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    emit (value: T): void {
      for (const listener of listeners) {
        try {
          listener(value)
        } catch (err) {
          const [context, message] = failed(value)
          log.error({ err, ...context }, message)
        }
      }
    },
    clear () { listeners.clear() }
  }
}
