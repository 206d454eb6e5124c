import type { FastifyBaseLogger } from 'fastify'

/** The alert log and the audit are kept 400 days (SPEC §11). */
export const LOG_RETENTION_MS = 400 * 86_400_000
export const HOURLY = 3_600_000

/**
 * Runs `prune` at once and every `intervalMs` after (the timer never holds the process open);
 * a failure is logged and tried again at the next turn. Resolves `stop` once a run under way
 * is over, so the caller may close its database after it.
 */
export function schedulePruning (prune: () => Promise<number>, intervalMs: number, log: FastifyBaseLogger): { stop (): Promise<void> } {
  let running: Promise<void> = Promise.resolve()
  const run = () => {
    running = running
      .then(prune)
      .then(pruned => { if (pruned > 0) log.debug({ pruned }, 'pruned entries older than the retention') })
      .catch(err => log.error({ err }, 'could not prune old entries'))
  }
  run()
  const timer = setInterval(run, intervalMs)
  timer.unref()
  return {
    async stop () {
      clearInterval(timer)
      await running
    }
  }
}
