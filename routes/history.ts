import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { IdParams, Success } from '../schemas/envelope.ts'
import { DiskHistory, DiskHistoryQuery, History, HistoryQuery, Incident, IncidentsQuery, Uptime, UptimeStats, UptimeStatsQuery } from '../schemas/history.ts'
import { itemNotFound } from '../lib/errors.ts'
import { dateRange, logQuery } from '../lib/date-range.ts'
import type { ConfigStore } from '../lib/config-store.ts'
import type { HistoryQueries } from '../plugins/history/queries.ts'
import type { Clock } from '../plugins/history/recorder.ts'

const DAY_MS = 86_400_000

/** `from`/`to` as epoch ms: by default the last 24 h. */
const range = (query: { from?: string, to?: string }, now: number) => dateRange(query, now, DAY_MS)

const wantsCsv = (request: FastifyRequest) => /\btext\/csv\b/.test(request.headers.accept ?? '')

function sendCsv (reply: FastifyReply, columns: string[], rows: Array<Record<string, unknown>>) {
  const cell = (value: unknown) => (value === null || value === undefined ? '' : String(value))
  const lines = [columns.join(','), ...rows.map(row => columns.map(column => cell(row[column])).join(','))]
  return reply.type('text/csv; charset=utf-8').send(lines.join('\r\n') + '\r\n')
}

export interface HistoryRoutesOptions {
  clock: Clock
}

/** The history routes of SPEC §9; absent when history is off, so they answer 404. */
const historyRoutes: FastifyPluginAsyncTypebox<HistoryRoutesOptions> = async function (fastify, options) {
  const store = fastify.getDecorator<ConfigStore>('configStore')
  const history = fastify.getDecorator<HistoryQueries>('history')
  const known = (id: string) => {
    if (store.server(id) === undefined) throw itemNotFound('Server', id)
    return id
  }

  fastify.get('/api/servers/:id/uptime', {
    schema: { params: IdParams, response: { 200: Success(Uptime) } }
  }, async (request) => ({ success: true as const, data: await history.uptime(known(request.params.id)) }))

  fastify.get('/api/servers/:id/history', {
    schema: { params: IdParams, querystring: HistoryQuery, response: { 200: Success(History) } }
  }, async (request, reply) => {
    const id = known(request.params.id)
    const { from, to } = range(request.query, options.clock())
    const step = history.chooseStep(from, to, request.query.step ?? 'auto')
    const points = await history.history(id, from, to, step)
    if (wantsCsv(request)) return sendCsv(reply, ['t', 'uptime', 'coverage', 'probes', 'replies', 'rttMinMs', 'rttAvgMs', 'rttMaxMs'], points)
    return { success: true as const, data: { step, points } }
  })

  fastify.get('/api/servers/:id/incidents', {
    schema: { params: IdParams, querystring: IncidentsQuery, response: { 200: Success(Type.Array(Incident)) } }
  }, async (request, reply) => {
    const id = known(request.params.id)
    const { from, to, limit } = logQuery(request.query, options.clock(), DAY_MS)
    const incidents = await history.incidents(id, from, to, limit)
    if (wantsCsv(request)) return sendCsv(reply, ['start', 'end', 'durationSeconds'], incidents)
    return { success: true as const, data: incidents }
  })

  fastify.get('/api/servers/:id/disks/history', {
    schema: { params: IdParams, querystring: DiskHistoryQuery, response: { 200: Success(DiskHistory) } }
  }, async (request) => {
    const id = known(request.params.id)
    const { from, to } = range(request.query, options.clock())
    const step = history.chooseStep(from, to, request.query.step ?? 'auto', ['1h', '1d']) as '1h' | '1d'
    return { success: true as const, data: { step, disks: await history.disks(id, from, to, step) } }
  })

  fastify.get('/api/stats/uptime', {
    schema: { querystring: UptimeStatsQuery, response: { 200: Success(UptimeStats) } }
  }, async (request) => {
    const ids = store.servers().map(server => server.id)
    return { success: true as const, data: await history.uptimeStats(request.query.window ?? '24h', ids, store.groups()) }
  })
}

export default historyRoutes
