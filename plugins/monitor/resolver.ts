import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP } from 'node:net'

export type Resolution = { address: string } | { error: string }

export interface ResolverOptions {
  ttlMs?: number
  failedTtlMs?: number
  /**
   * Lookups in flight at most. dns.lookup runs getaddrinfo on libuv's thread pool (4 threads
   * by default), which file writes — the store's journal fsync among them — share: 50,000
   * names at once would queue every write behind them.
   */
  concurrency?: number
  lookup?: (name: string) => Promise<{ address: string }>
}

/**
 * Probe targets by name are resolved here, cached, and handed to the probes as addresses
 * (fping would resolve every name before sending anything, so one slow DNS failure
 * would stall every target). Lookups wait their turn, at most `concurrency` at a time.
 */
export function createResolver ({ ttlMs = 60_000, failedTtlMs = 10_000, concurrency = 2, lookup = name => dnsLookup(name) }: ResolverOptions = {}) {
  const cache = new Map<string, { result: Promise<Resolution>, expires: number }>()
  const waiting: Array<() => void> = []
  let running = 0

  async function limited (name: string) {
    if (running >= concurrency) await new Promise<void>(resolve => waiting.push(resolve))
    else running++
    try {
      return await lookup(name)
    } finally {
      // The slot passes straight to the next waiter, so `running` never drops below the queue.
      const next = waiting.shift()
      if (next) next()
      else running--
    }
  }

  return {
    resolve (name: string): Promise<Resolution> {
      if (isIP(name)) return Promise.resolve({ address: name })
      const cached = cache.get(name)
      if (cached && cached.expires > Date.now()) return cached.result
      const entry = {
        expires: Date.now() + ttlMs,
        result: limited(name).then(
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
