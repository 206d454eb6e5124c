import { setTimeout as sleep } from 'node:timers/promises'

export { sleep }

/**
 * A bound for `Promise.race` that does not hold the process open: once what it bounds has
 * settled, the file ends at once instead of after the bound (5 s per file add up in a suite).
 */
export const timeLimit = (ms: number): Promise<void> => sleep(ms, undefined, { ref: false })

/** Polls until `check` returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T> (check: () => T | Promise<T>, timeoutMs = 10000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    // Many checks are HTTP requests to a server child: a slower poll leaves the CPU to the tests.
    await sleep(50)
  }
}

/** `waitFor` for `t.ok(await becomes(...), what)`: true once `check` holds, false when it did not in time. */
export const becomes = (check: () => unknown, timeoutMs: number): Promise<boolean> =>
  waitFor(check, timeoutMs).then(() => true, () => false)
