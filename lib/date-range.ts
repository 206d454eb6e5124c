import { invalid } from './errors.ts'

/** Whether the calendar day of an ISO date exists (Date.parse rolls 2026-02-30 over to March). */
function dayExists (text: string): boolean {
  const [year, month, day] = text.slice(0, 10).split('-').map(Number) as [number, number, number]
  const date = new Date(Date.UTC(year, month - 1, day))
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}

/**
 * `from`/`to` of a query (ISO dates, already checked for their form) as epoch ms: by
 * default the `defaultMs` before `to`, and `to` now. A date that does not exist, or `from`
 * after `to`, is refused naming the field.
 */
export function dateRange (query: { from?: string, to?: string }, now: number, defaultMs: number): { from: number, to: number } {
  const parse = (field: 'from' | 'to') => {
    const text = query[field]
    if (text === undefined) return undefined
    const time = Date.parse(text)
    if (Number.isNaN(time) || !dayExists(text)) throw invalid(field, `'${text}' is not a valid date`)
    return time
  }
  const to = parse('to') ?? now
  const from = parse('from') ?? to - defaultMs
  if (from > to) throw invalid('from', 'must not be after to')
  return { from, to }
}

/** The alert log, the audit and the incidents answer at most this many entries unless `limit` says. */
export const DEFAULT_LIMIT = 100

/** A log query (`from`, `to`, `limit`; SPEC §9–§11) as epoch ms and a count, with the defaults. */
export function logQuery (query: { from?: string, to?: string, limit?: string }, now: number, defaultMs: number): { from: number, to: number, limit: number } {
  return { ...dateRange(query, now, defaultMs), limit: Number(query.limit ?? DEFAULT_LIMIT) }
}
