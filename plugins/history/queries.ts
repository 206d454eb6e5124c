import { invalid } from '../../lib/errors.ts'
import type { Clock, Recorder } from './recorder.ts'
import { STEP_MS, addTally, emptyTally, type HistoryStorage, type Step, type Tally } from './storage.ts'
import { forecast, type Forecast } from './forecast.ts'

/** How long each series is kept, in ms; null keeps days forever. */
export interface Retention {
  minutesMs: number
  hoursMs: number
  daysMs: number | null
}

export const WINDOWS = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000, '365d': 365 * 86_400_000 } as const
export type UptimeWindow = keyof typeof WINDOWS
export const MAX_POINTS = 1500
const FORECAST_SPAN_MS = 14 * 86_400_000
const STEPS: Step[] = ['1m', '1h', '1d']

const round3 = (value: number) => Math.round(value * 1000) / 1000
const percent = (part: number, whole: number) => (whole > 0 ? round3(part / whole * 100) : null)
const ceilTo = (time: number, unit: number) => Math.ceil(time / unit) * unit
const floorTo = (time: number, unit: number) => Math.floor(time / unit) * unit
const iso = (time: number) => new Date(time).toISOString()

export interface WindowFigures {
  uptime: number | null
  coverage: number | null
  downtimeSeconds: number
  incidents: number
}

/** Uptime and coverage of a sum; both null when nothing was monitored. */
function figures (tally: Tally, spanMs: number): Pick<WindowFigures, 'uptime' | 'coverage'> {
  if (tally.monitoredMs === 0) return { uptime: null, coverage: null }
  return { uptime: percent(tally.onlineMs, tally.monitoredMs), coverage: percent(tally.monitoredMs, spanMs) }
}

export function createHistoryQueries (storage: HistoryStorage, recorder: Pick<Recorder, 'unwritten'>, clock: Clock, retention: Retention) {
  const retentionOf = (step: Step) => ({ '1m': retention.minutesMs, '1h': retention.hoursMs, '1d': retention.daysMs ?? Infinity })[step]

  /**
   * [from, now) cut into whole minutes up to the first whole hour, whole hours up to the first
   * whole day, then days: the rows of the current hour and day are complete up to the last
   * write (minutes are added into them as they are written), so a 365-day window reads a few
   * hundred rows per server. `from` is rounded up to the finest unit still kept.
   */
  function segments (from: number, now: number) {
    const head = STEPS.find(step => from >= now - retentionOf(step)) ?? '1d'
    const start = Math.min(ceilTo(from, STEP_MS[head]), now)
    const parts: Array<[Step, number, number]> = []
    let a = start
    for (const step of STEPS.slice(STEPS.indexOf(head))) {
      const next = step === '1d' ? now : Math.min(ceilTo(a, STEP_MS[STEPS[STEPS.indexOf(step) + 1]!]), now)
      if (a < next) parts.push([step, a, next])
      a = next
    }
    return { start, parts }
  }

  /**
   * Sums per server over [from, now), what is not written yet included. With SQLite every
   * storage call settles at once, so no write can slip in between the reads and `unwritten`.
   */
  async function spanTotals (from: number, to: number, serverId?: string) {
    const { start, parts } = segments(from, to)
    const sums = new Map<string, Tally>()
    const add = (id: string, tally: Tally) => sums.set(id, addTally(sums.get(id) ?? emptyTally(), tally))
    for (const [step, a, b] of parts) {
      for (const [id, tally] of await storage.totals(step, a, b, serverId)) add(id, tally)
    }
    const end = ceilTo(to, STEP_MS['1m'])
    for (const row of recorder.unwritten(serverId)) if (row.t >= start && row.t < end) add(row.serverId, row)
    return { start, sums }
  }

  /** The step asked for, or for `auto` the finest one retention still holds within MAX_POINTS. */
  function chooseStep (from: number, to: number, wanted: Step | 'auto', allowed: Step[] = STEPS): Step {
    const points = (step: Step) => Math.ceil((to - from) / STEP_MS[step])
    const tooMany = (step: Step) => invalid('step', `'${step}' from ${iso(from)} to ${iso(to)} gives ${points(step)} points; at most ${MAX_POINTS}: choose a coarser step or a shorter range`)
    if (wanted !== 'auto') {
      if (points(wanted) > MAX_POINTS) throw tooMany(wanted)
      return wanted
    }
    const now = clock()
    const coarsest = allowed.at(-1)!
    const step = allowed.find(step => from >= now - retentionOf(step) && points(step) <= MAX_POINTS) ?? coarsest
    if (points(step) > MAX_POINTS) throw tooMany(step)
    return step
  }

  async function forecasts (serverId: string): Promise<Map<string, Forecast | null>> {
    const now = clock()
    const recent = await storage.diskSeries(serverId, '1h', now - FORECAST_SPAN_MS, now + 1)
    return new Map(recent.map(disk => [disk.disk, forecast(disk.points, now)]))
  }

  return {
    chooseStep,

    async uptime (serverId: string) {
      const now = clock()
      const windows = {} as Record<UptimeWindow, WindowFigures>
      for (const [name, length] of Object.entries(WINDOWS) as Array<[UptimeWindow, number]>) {
        const { start, sums } = await spanTotals(now - length, now, serverId)
        const tally = sums.get(serverId) ?? emptyTally()
        const incidents = await storage.incidents(serverId, start, now, Number.MAX_SAFE_INTEGER)
        windows[name] = { ...figures(tally, now - start), downtimeSeconds: (tally.monitoredMs - tally.onlineMs) / 1000, incidents: incidents.length }
      }
      return { windows }
    },

    /** Overall and per group: sums over the configured servers, coverage of servers × window. */
    async uptimeStats (window: UptimeWindow, serverIds: readonly string[], groups: ReadonlyArray<{ id: string, name: string, serverIds: string[] }>) {
      const now = clock()
      const { start, sums } = await spanTotals(now - WINDOWS[window], now)
      const configured = new Set(serverIds)
      const over = (ids: Iterable<string>) => {
        const tally = emptyTally()
        let count = 0
        for (const id of ids) {
          if (!configured.has(id)) continue
          count++
          addTally(tally, sums.get(id) ?? emptyTally())
        }
        return figures(tally, (now - start) * count)
      }
      return { overall: over(serverIds), groups: groups.map(group => ({ id: group.id, name: group.name, ...over(group.serverIds) })) }
    },

    async history (serverId: string, from: number, to: number, step: Step) {
      const unit = STEP_MS[step]
      const buckets = new Map<number, Tally>()
      for (const { t, ...tally } of await storage.series(serverId, step, from, to)) buckets.set(t, tally)
      const [first, end] = [ceilTo(from, unit), ceilTo(to, unit)]
      for (const row of recorder.unwritten(serverId)) {
        const t = floorTo(row.t, unit)
        if (t >= first && t < end) buckets.set(t, addTally(buckets.get(t) ?? emptyTally(), row))
      }
      return [...buckets.entries()].sort(([a], [b]) => a - b).map(([t, tally]) => ({
        t: iso(t),
        ...figures(tally, unit),
        probes: tally.probes,
        replies: tally.replies,
        rttMinMs: tally.rttMinUs === null ? null : tally.rttMinUs / 1000,
        rttAvgMs: tally.replies > 0 && tally.rttMaxUs !== null ? round3(tally.rttSumUs / tally.replies / 1000) : null,
        rttMaxMs: tally.rttMaxUs === null ? null : tally.rttMaxUs / 1000
      }))
    },

    async incidents (serverId: string, from: number, to: number, limit: number) {
      const now = clock()
      return (await storage.incidents(serverId, from, to, limit)).map(({ start, end }) => ({
        start: iso(start),
        end: end === null ? null : iso(end),
        durationSeconds: ((end ?? now) - start) / 1000
      }))
    },

    /** Each disk's forecast (by `diskKey`), from the hourly maxima of the last 14 days. */
    forecasts,

    async disks (serverId: string, from: number, to: number, step: '1h' | '1d') {
      const forecastOf = await forecasts(serverId)
      return (await storage.diskSeries(serverId, step, from, to)).map(disk => ({
        ...(disk.index === undefined ? {} : { index: disk.index }),
        name: disk.name,
        source: disk.source,
        points: disk.points.map(({ t, usedMiB, totalMiB }) => ({ t: iso(t), usedMiB, totalMiB, percentage: totalMiB > 0 ? Math.round(usedMiB / totalMiB * 100) : 0 })),
        forecast: forecastOf.get(disk.disk) ?? null
      }))
    }
  }
}

export type HistoryQueries = ReturnType<typeof createHistoryQueries>
