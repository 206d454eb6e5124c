const DAY_MS = 86_400_000
/** Less than this span of hourly maxima says nothing about a trend. */
const MIN_SPAN_MS = 3 * DAY_MS

const round3 = (value: number) => Math.round(value * 1000) / 1000

export interface Forecast {
  fullAt: string
  daysToFull: number
  growthMiBPerDay: number
}

/**
 * When a disk fills up, from a least-squares line through its hourly maxima (SPEC §9: the
 * last 14 days). Null with less than 3 days of data, or when use does not grow.
 */
export function forecast (points: ReadonlyArray<{ t: number, usedMiB: number, totalMiB: number }>, now: number): Forecast | null {
  if (points.length < 2 || points.at(-1)!.t - points[0]!.t < MIN_SPAN_MS) return null
  const origin = points[0]!.t
  const xs = points.map(point => (point.t - origin) / DAY_MS)
  const meanX = xs.reduce((sum, x) => sum + x, 0) / xs.length
  const meanY = points.reduce((sum, point) => sum + point.usedMiB, 0) / points.length
  let covariance = 0
  let variance = 0
  points.forEach((point, i) => {
    covariance += (xs[i]! - meanX) * (point.usedMiB - meanY)
    variance += (xs[i]! - meanX) ** 2
  })
  const slope = covariance / variance
  if (!(slope > 0)) return null
  const intercept = meanY - slope * meanX
  const total = points.at(-1)!.totalMiB
  // Already past the line's crossing: full now, not in the past.
  const fullAt = Math.max(origin + (total - intercept) / slope * DAY_MS, now)
  return { fullAt: new Date(fullAt).toISOString(), daysToFull: round3((fullAt - now) / DAY_MS), growthMiBPerDay: round3(slope) }
}
