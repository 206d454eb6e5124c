import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'

export type Resolution = { address: string } | { error: string }

/**
 * Probe targets by name are resolved here, cached, and handed to the probes as addresses
 * (fping would resolve every name before sending anything, so one slow DNS failure
 * would stall every target).
 */
export function createResolver (ttlMs = 60_000, failedTtlMs = 10_000) {
  const cache = new Map<string, { result: Promise<Resolution>, expires: number }>()

  return {
    resolve (name: string): Promise<Resolution> {
      if (isIP(name)) return Promise.resolve({ address: name })
      const cached = cache.get(name)
      if (cached && cached.expires > Date.now()) return cached.result
      const entry = {
        expires: Date.now() + ttlMs,
        result: lookup(name).then(
          ({ address }) => ({ address }),
          (err: NodeJS.ErrnoException) => {
            entry.expires = Date.now() + failedTtlMs
            return { error: `cannot resolve ${name}: ${err.code ?? err.message}` }
          }
        )
      }
      cache.set(name, entry)
      return entry.result
    }
  }
}
