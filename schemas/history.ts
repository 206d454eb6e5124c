import { Type, type Static } from '@sinclair/typebox'
import { StringEnum } from './config.ts'

// A date, or a date and time with `Z` or an offset: a time without a zone would depend on ours.
const ISO_DATE = '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2}))?$'
const IsoDate = Type.String({ maxLength: 40, pattern: ISO_DATE, errorMessage: 'must be an ISO 8601 date such as 2026-01-31 or 2026-01-31T12:00:00Z' })

export const RangeQuery = {
  from: Type.Optional(IsoDate),
  to: Type.Optional(IsoDate)
}

export const HistoryQuery = Type.Object({
  ...RangeQuery,
  step: Type.Optional(StringEnum(['1m', '1h', '1d', 'auto'] as const, { default: 'auto' }))
}, { additionalProperties: false })
export type HistoryQuery = Static<typeof HistoryQuery>

export const DiskHistoryQuery = Type.Object({
  ...RangeQuery,
  // Disks are kept per hour and per day only.
  step: Type.Optional(StringEnum(['1h', '1d', 'auto'] as const, { default: 'auto' }))
}, { additionalProperties: false })

// Query strings are not coerced (lib/validation.ts): a number is checked as text.
export const LimitQuery = Type.String({ pattern: '^(1000|[1-9]\\d{0,2})$', errorMessage: 'must be a whole number from 1 to 1000' })

export const IncidentsQuery = Type.Object({
  ...RangeQuery,
  limit: Type.Optional(LimitQuery)
}, { additionalProperties: false })

export const UptimeStatsQuery = Type.Object({
  window: Type.Optional(StringEnum(['24h', '7d', '30d', '365d'] as const, { default: '24h' }))
}, { additionalProperties: false })

const Percent = Type.Union([Type.Number(), Type.Null()], { description: 'percent with 3 decimals; null when nothing was monitored' })
const Milliseconds = Type.Union([Type.Number(), Type.Null()])

const WindowFigures = Type.Object({
  uptime: Percent,
  coverage: Percent,
  downtimeSeconds: Type.Number(),
  incidents: Type.Integer()
})
export const Uptime = Type.Object({
  windows: Type.Object({ '24h': WindowFigures, '7d': WindowFigures, '30d': WindowFigures, '365d': WindowFigures })
})

export const HistoryPoint = Type.Object({
  t: Type.String(),
  uptime: Percent,
  // Beyond SPEC §9's fields (README, decisions): how much of the period `uptime` speaks for.
  coverage: Type.Union([Type.Number(), Type.Null()], { description: 'percent of the period that was monitored, 3 decimals; null when nothing was' }),
  probes: Type.Integer(),
  replies: Type.Integer(),
  rttMinMs: Milliseconds,
  rttAvgMs: Milliseconds,
  rttMaxMs: Milliseconds
})
export const History = Type.Object({ step: Type.String(), points: Type.Array(HistoryPoint) })

export const Incident = Type.Object({
  start: Type.String(),
  end: Type.Union([Type.String(), Type.Null()]),
  durationSeconds: Type.Number()
})

export const DiskHistory = Type.Object({
  step: Type.String(),
  disks: Type.Array(Type.Object({
    index: Type.Optional(Type.Integer()),
    name: Type.String(),
    source: Type.String(),
    points: Type.Array(Type.Object({ t: Type.String(), usedMiB: Type.Integer(), totalMiB: Type.Integer(), percentage: Type.Integer() })),
    forecast: Type.Union([Type.Object({ fullAt: Type.String(), daysToFull: Type.Number(), growthMiBPerDay: Type.Number() }), Type.Null()])
  }))
})

const GroupFigures = Type.Object({ uptime: Percent, coverage: Percent })
export const UptimeStats = Type.Object({
  overall: GroupFigures,
  groups: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), uptime: Percent, coverage: Percent }))
})
