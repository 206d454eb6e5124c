/**
 * The bad queries every log route (`GET /api/alerts`, `/api/audit`) refuses with a 400 naming
 * the field, as one table: dates that are no dates or do not exist, `from` after `to`, limits
 * out of range, and an unknown parameter.
 */
import type { Answer } from './app.ts'

interface Assert {
  equal (found: unknown, wanted: unknown, message: string): void
  match (found: unknown, wanted: unknown, message: string): void
}

export const BAD_LOG_QUERIES: ReadonlyArray<readonly [query: string, field: string]> = [
  ['from=yesterday', 'from'],
  ['to=2026-02-30', 'to'],
  ['from=2026-03-02&to=2026-03-01', 'from'],
  ['from=2026-03-01T12:00', 'from'],
  ['limit=0', 'limit'],
  ['limit=1001', 'limit'],
  ['limit=ten', 'limit'],
  ['limit=-1', 'limit'],
  ['since=2026-03-01', 'since']
]

/** Sends each bad query to `path` and checks the 400 and the field it names. */
export async function checkBadLogQueries (t: Assert, get: (path: string) => Promise<Answer>, path: string) {
  for (const [query, field] of BAD_LOG_QUERIES) {
    const answer = await get(`${path}?${query}`)
    t.equal(answer.status, 400, query)
    t.match(answer.json, { success: false, error: new RegExp(`^Validation failed: ${field}: `), validationErrors: { [field]: String } }, `${query}: names ${field} (${answer.json?.error})`)
  }
}
