import t from 'tap'
import Fastify from 'fastify'
import Database from 'better-sqlite3'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSqliteStorage } from '../plugins/history/sqlite-storage.ts'
import { createRecorder } from '../plugins/history/recorder.ts'
import { forecast } from '../plugins/history/forecast.ts'
import type { HistoryStorage } from '../plugins/history/storage.ts'
import { optionsFromEnv } from '../lib/options.ts'
import { startApp, tempDir } from './support/app.ts'

const SECOND = 1000
const MINUTE = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000
const T0 = Date.UTC(2026, 0, 5)
const log = Fastify({ logger: false }).log

/** The real storage and recorder on `file`, with the time in `clock.now`. */
async function openHistory (file: string, clock: { now: number }) {
  const storage = createSqliteStorage(file)
  const recording = createRecorder({ storage, clock: () => clock.now, log, lastStates: await storage.lastStates() })
  // The recorder leaves the storage open (the plugin's, shared with the queries): closed here with it.
  const recorder = { ...recording, close: async () => { await recording.close(); await storage.close() } }
  return { storage, recorder }
}

/** One ping result per second in [from, to); `isOnline` says what the monitor's state machine says after it. */
function feed (recorder: ReturnType<typeof createRecorder>, clock: { now: number }, from: number, to: number, alive: boolean, isOnline: (second: number) => boolean) {
  for (let at = from, second = 0; at < to; at += SECOND, second++) {
    clock.now = at
    recorder.onResult({ kind: 'ping', serverId: 'a', at, alive, isOnline: isOnline(second), ...(alive ? { rttMs: 1 + second % 3 } : {}) })
  }
  clock.now = to
}

/**
 * The script of the figures test: online 10 min; down 2 min (the monitor flips at the 3rd
 * failure); up again; stopped at 15:30 and restarted at 15:40 (mid-minute); stopped at 20:00
 * and restarted at 2:00:00, when the server is down.
 */
async function scriptedHistory (file: string) {
  const clock = { now: T0 }
  let { recorder } = await openHistory(file, clock)
  recorder.track('a', 3)
  feed(recorder, clock, T0, T0 + 10 * MINUTE, true, () => true)
  feed(recorder, clock, T0 + 10 * MINUTE, T0 + 12 * MINUTE, false, second => second < 2)
  await recorder.flush()
  feed(recorder, clock, T0 + 12 * MINUTE, T0 + 15 * MINUTE + 30 * SECOND, true, second => second >= 2)
  await recorder.close()

  clock.now = T0 + 15 * MINUTE + 40 * SECOND
  ;({ recorder } = await openHistory(file, clock))
  recorder.track('a', 3)
  feed(recorder, clock, clock.now, T0 + 20 * MINUTE, true, () => true)
  await recorder.close()

  clock.now = T0 + 2 * HOUR
  ;({ recorder } = await openHistory(file, clock))
  recorder.track('a', 3)
  feed(recorder, clock, clock.now, T0 + 2 * HOUR + 5 * MINUTE, false, () => false)
  await recorder.close()
  return clock.now
}

const dataFileWith = (dir: string, ids: string[]) => {
  const file = join(dir, 'estatus.json')
  writeFileSync(file, JSON.stringify({
    version: 1,
    nextServerId: 1,
    nextGroupId: 2,
    servers: ids.map(id => ({ id, name: id, ip: '10.0.0.1', dnsAddress: '127.0.0.2' })),
    groups: [{ id: 'group-1', name: 'All', order: 1, serverIds: ids, rowNumber: 1, rowOrder: 1 }]
  }))
  return file
}

/** The app on an existing history file, its clock stopped at `now`, and nothing probing (no fping). */
const startOnHistory = (t: Test, dir: string, now: number, ids = ['a']) =>
  startApp(t, { dataFile: dataFileWith(dir, ids), fpingPath: join(dir, 'no-fping'), diskIntervalMs: 86_400_000, historyClock: () => now }, dir)
type Test = Parameters<typeof tempDir>[0]

t.test('minute, hour and day figures from scripted results, with gaps and a restart in the middle of a minute', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'history.sqlite')
  const end = await scriptedHistory(file)
  const storage = createSqliteStorage(file)
  t.teardown(() => storage.close())

  const minutes = await storage.series('a', '1m', T0, end)
  const minute = (n: number) => minutes.find(row => row.t === T0 + n * MINUTE)
  t.match(minute(0), { probes: 60, replies: 60, rttMinUs: 1000, rttMaxUs: 3000, rttSumUs: 120_000, onlineMs: 60_000, monitoredMs: 60_000 })
  t.match(minute(10), { probes: 60, replies: 0, rttMinUs: null, onlineMs: 2000, monitoredMs: 60_000 }, 'online until the flip at the 3rd failure')
  t.match(minute(11), { onlineMs: 0, monitoredMs: 60_000 })
  t.match(minute(12), { probes: 60, replies: 60, onlineMs: 58_000, monitoredMs: 60_000 })
  t.match(minute(15), { probes: 50, replies: 50, onlineMs: 50_000, monitoredMs: 50_000 }, 'the restarted minute adds up; the 10 s stopped are not monitored')
  t.match(minute(16), { probes: 60, onlineMs: 60_000, monitoredMs: 60_000 })
  t.notOk(minute(20), 'nothing while the backend was stopped')
  t.notOk(minute(119))
  t.match(minute(120), { probes: 60, replies: 0, onlineMs: 0, monitoredMs: 58_000 }, 'after a restart the state is known at the 3rd failure')
  t.equal(minutes.length, 20 + 5)

  const hours = await storage.series('a', '1h', T0, end)
  t.same(hours.map(row => row.t), [T0, T0 + 2 * HOUR])
  t.match(hours[0], { probes: 1190, replies: 1070, rttMinUs: 1000, rttMaxUs: 3000, onlineMs: 1_070_000, monitoredMs: 1_190_000 })
  t.match(hours[1], { probes: 300, replies: 0, onlineMs: 0, monitoredMs: 298_000 })
  const days = await storage.series('a', '1d', T0, end)
  t.match(days, [{ t: T0, probes: 1490, replies: 1070, onlineMs: 1_070_000, monitoredMs: 1_488_000 }])
  t.same(await storage.incidents('a', T0, end, 10), [{ start: T0 + 2 * HOUR + 2 * SECOND, end: null }, { start: T0 + 10 * MINUTE + 2 * SECOND, end: T0 + 12 * MINUTE + 2 * SECOND }],
    'newest first; a restart writes no flip for a state that did not change')

  // The same figures through the routes.
  const api = await startOnHistory(t, dir, end)
  const uptime = (await api.call('GET', '/api/servers/a/uptime')).json.data.windows
  t.same(uptime['24h'], { uptime: 71.909, coverage: 1.722, downtimeSeconds: 418, incidents: 2 })
  t.same(uptime['7d'].uptime, 71.909)
  const history = (await api.call('GET', `/api/servers/a/history?from=${new Date(T0).toISOString()}&step=1h`)).json.data
  t.same(history, {
    step: '1h',
    points: [
      { t: new Date(T0).toISOString(), uptime: 89.916, coverage: 33.056, probes: 1190, replies: 1070, rttMinMs: 1, rttAvgMs: 1.999, rttMaxMs: 3 },
      { t: new Date(T0 + 2 * HOUR).toISOString(), uptime: 0, coverage: 8.278, probes: 300, replies: 0, rttMinMs: null, rttAvgMs: null, rttMaxMs: null }
    ]
  })
  t.equal((await api.call('GET', '/api/servers/a/history')).json.data.step, '1m', 'auto over the last 24 h is 1m')
  t.equal((await api.call('GET', `/api/servers/a/history?from=${new Date(end - 30 * DAY).toISOString()}`)).json.data.step, '1h')
  t.same((await api.call('GET', '/api/stats/uptime')).json.data, {
    overall: { uptime: 71.909, coverage: 1.722 },
    groups: [{ id: 'group-1', name: 'All', uptime: 71.909, coverage: 1.722 }]
  })
  t.same((await api.call('GET', '/api/servers/a/incidents')).json.data, [
    { start: new Date(T0 + 2 * HOUR + 2 * SECOND).toISOString(), end: null, durationSeconds: 298 },
    { start: new Date(T0 + 10 * MINUTE + 2 * SECOND).toISOString(), end: new Date(T0 + 12 * MINUTE + 2 * SECOND).toISOString(), durationSeconds: 120 }
  ])
})

t.test('CSV on Accept: text/csv for history and incidents', async t => {
  const dir = await tempDir(t)
  const end = await scriptedHistory(join(dir, 'history.sqlite'))
  const api = await startOnHistory(t, dir, end)
  const history = await api.call('GET', `/api/servers/a/history?from=${new Date(T0).toISOString()}&step=1h`, undefined, { accept: 'text/csv' })
  t.match(history.headers['content-type'], /^text\/csv/)
  t.equal(history.text, 't,uptime,coverage,probes,replies,rttMinMs,rttAvgMs,rttMaxMs\r\n' +
    `${new Date(T0).toISOString()},89.916,33.056,1190,1070,1,1.999,3\r\n` +
    `${new Date(T0 + 2 * HOUR).toISOString()},0,8.278,300,0,,,\r\n`)
  const incidents = await api.call('GET', '/api/servers/a/incidents?limit=1', undefined, { accept: 'text/csv' })
  t.equal(incidents.text, `start,end,durationSeconds\r\n${new Date(T0 + 2 * HOUR + 2 * SECOND).toISOString()},,298\r\n`)
  t.equal((await api.call('GET', '/api/servers/a/incidents')).headers['content-type'], 'application/json; charset=utf-8', 'JSON without the Accept header')
})

const sha = (file: string) => (existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : 'absent')

t.test('bad inputs get a 400 or 404 naming the field, and the database file does not change', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'history.sqlite')
  const end = await scriptedHistory(file)
  const api = await startOnHistory(t, dir, end)
  t.equal((await api.call('GET', '/api/servers/a/uptime')).status, 200)
  const before = [sha(file), sha(file + '-wal')]
  const from = new Date(end - HOUR).toISOString()
  const cases: Array<[string, number, string]> = [
    ['/api/servers/a/history?from=yesterday', 400, 'from: must be an ISO 8601 date'],
    ['/api/servers/a/history?to=2026-13-01', 400, "to: '2026-13-01' is not a valid date"],
    ['/api/servers/a/history?from=2026-02-30T00:00:00Z', 400, "from: '2026-02-30T00:00:00Z' is not a valid date"],
    ['/api/servers/a/history?from=2026-01-05T10:00:00', 400, 'from: must be an ISO 8601 date'],
    ['/api/servers/a/history?from=2026-01-05T25:00:00Z', 400, 'from: '],
    ['/api/servers/a/history?from=2026-01-06&to=2026-01-05', 400, 'from: must not be after to'],
    ['/api/servers/a/history?from=2026-01-01&to=2026-01-05&step=1m', 400, 'step: \'1m\' from 2026-01-01T00:00:00.000Z to 2026-01-05T00:00:00.000Z gives 5760 points; at most 1500'],
    ['/api/servers/a/history?from=2000-01-01&to=2026-01-05&step=auto', 400, 'step: \'1d\''],
    ['/api/servers/a/history?step=5m', 400, 'step: must be one of: 1m, 1h, 1d, auto'],
    ['/api/servers/a/history?step=1m&step=1h', 400, 'step: must be a string'],
    ['/api/servers/a/history?color=red', 400, 'color: is not a known field'],
    ['/api/servers/nope/history', 404, "Server with ID 'nope' not found"],
    ['/api/servers/nope/uptime', 404, "Server with ID 'nope' not found"],
    ['/api/servers/nope/incidents', 404, "Server with ID 'nope' not found"],
    ['/api/servers/nope/disks/history', 404, "Server with ID 'nope' not found"],
    ['/api/servers/a/incidents?limit=0', 400, 'limit: must be a whole number from 1 to 1000'],
    ['/api/servers/a/incidents?limit=1001', 400, 'limit: must be a whole number from 1 to 1000'],
    ['/api/servers/a/incidents?limit=ten', 400, 'limit: must be a whole number from 1 to 1000'],
    [`/api/servers/a/incidents?from=${from}&to=2020-01-01`, 400, 'from: must not be after to'],
    ['/api/servers/a/disks/history?step=1m', 400, 'step: must be one of: 1h, 1d, auto'],
    ['/api/servers/a/disks/history?from=1990-01-01&to=2026-01-01&step=1h', 400, 'step: \'1h\''],
    ['/api/servers/a/disks/history?to=not-a-date', 400, 'to: must be an ISO 8601 date'],
    ['/api/stats/uptime?window=1y', 400, 'window: must be one of: 24h, 7d, 30d, 365d'],
    ['/api/stats/uptime?window=', 400, 'window: must be one of']
  ]
  for (const [path, status, message] of cases) {
    const answer = await api.call('GET', path)
    t.equal(answer.status, status, path)
    t.equal(answer.json.success, false, path)
    t.ok(answer.json.error.includes(message), `${path}: ${answer.json.error}`)
    if (status === 400) t.ok(Object.keys(answer.json.validationErrors).length > 0, `${path} names the field`)
  }
  t.same([sha(file), sha(file + '-wal')], before, 'the database file is unchanged')
})

t.test('retention removes old rows in every series and keeps the rest', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'history.sqlite')
  const end = await scriptedHistory(file)
  const storage: HistoryStorage = createSqliteStorage(file)
  t.teardown(() => storage.close())
  // Keep minutes from 1:00 (drops the first 20), hours from 1:00 (drops hour 0), days and transitions from 0:11.
  await storage.prune({ minutes: T0 + HOUR, hours: T0 + HOUR, days: null, transitions: T0 + 11 * MINUTE })
  t.same((await storage.series('a', '1m', T0, end)).map(row => (row.t - T0) / MINUTE), [120, 121, 122, 123, 124])
  t.same((await storage.series('a', '1h', T0, end)).map(row => (row.t - T0) / HOUR), [2])
  t.equal((await storage.series('a', '1d', T0, end)).length, 1, 'days are kept forever (null)')
  t.same((await storage.incidents('a', T0, end, 10)).map(incident => incident.start), [T0 + 2 * HOUR + 2 * SECOND], 'the old transitions are gone')
  await storage.prune({ minutes: end, hours: end, days: end + DAY, transitions: end })
  t.same(await storage.series('a', '1d', T0, end), [], 'days go too when they have a retention')
})

t.test('retention removes the old rows of every disk and keeps the rest', async t => {
  const dir = await tempDir(t)
  const storage = createSqliteStorage(join(dir, 'history.sqlite'))
  t.teardown(() => storage.close())
  const reading = (disk: string, at: number) => ({ serverId: 'a', disk, source: 'snmp' as const, name: disk, t: at, usedMiB: 10, totalMiB: 100 })
  await storage.record([], [0, 1, 2, 30].flatMap(hour => ['snmp:1', 'snmp:2'].map(disk => reading(disk, T0 + hour * HOUR))))
  await storage.prune({ minutes: T0, hours: T0 + 2 * HOUR, days: T0 + DAY, transitions: T0 })
  const kept = async (step: '1h' | '1d', unit: number) =>
    (await storage.diskSeries('a', step, T0, T0 + 2 * DAY)).map(disk => [disk.disk, disk.points.map(point => (point.t - T0) / unit)])
  t.same(await kept('1h', HOUR), [['snmp:1', [2, 30]], ['snmp:2', [2, 30]]], 'hours from 2:00 on, of both disks')
  t.same(await kept('1d', DAY), [['snmp:1', [1]], ['snmp:2', [1]]], 'days from the second on')
})

t.test('a deleted server loses its rows at once; a server deleted while the backend was down loses them at start', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'history.sqlite')
  const clock = { now: T0 }
  const { recorder } = await openHistory(file, clock)
  for (const id of ['a', 'b', 'c']) recorder.track(id, 1)
  for (const id of ['a', 'b', 'c']) recorder.onResult({ kind: 'ping', serverId: id, at: T0, alive: false, isOnline: false })
  clock.now = T0 + 5 * MINUTE
  await recorder.close()
  const rows = (id: string) => {
    const db = new Database(file, { readonly: true })
    try {
      const key = (db.prepare('SELECT key FROM servers WHERE id = ?').get(id) as { key: number } | undefined)?.key
      if (key === undefined) return 0
      return ['minutes', 'hours', 'days', 'transitions'].reduce((sum, table) => sum + (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE server = ?`).get(key) as { n: number }).n, 0)
    } finally { db.close() }
  }
  t.equal(rows('a'), 5 + 1 + 1 + 1)
  t.equal(rows('c'), 8)

  const api = await startOnHistory(t, dir, clock.now, ['a', 'b'])
  t.equal(rows('c'), 0, 'c is not configured: removed at start')
  t.equal(rows('b'), 8)
  t.equal((await api.call('DELETE', '/api/config/servers/b')).status, 200)
  t.equal(rows('b'), 0, 'removed with the delete')
  t.equal(rows('a'), 8, 'the others keep theirs')
  t.equal((await api.call('GET', '/api/servers/b/history')).status, 404)
  // An explicit id can come back: it starts with no history.
  t.equal((await api.call('POST', '/api/config/servers', { id: 'b', name: 'b', ip: '10.0.0.2', dnsAddress: '127.0.0.3' })).status, 201)
  t.same((await api.call('GET', '/api/servers/b/incidents')).json.data, [])
})

t.test('disk history and forecast from synthetic growth: linear, flat, shrinking, too little data', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'history.sqlite')
  const clock = { now: T0 }
  const { recorder } = await openHistory(file, clock)
  const series: Record<string, (day: number) => number> = {
    linear: day => 100_000 + 1200 * day,
    flat: () => 100_000,
    shrinking: day => 200_000 - 500 * day
  }
  for (const id of [...Object.keys(series), 'young']) recorder.track(id, 4)
  for (let hour = 0; hour < 20 * 24; hour++) {
    clock.now = T0 + hour * HOUR
    for (const [id, used] of Object.entries(series)) {
      // Two readings an hour: the hour keeps the larger.
      for (const extra of [0, -300]) {
        const usedMiB = Math.round(used(hour / 24)) + extra
        recorder.onResult({ kind: 'disks', serverId: id, at: clock.now + (extra ? 30 * MINUTE : 0), diskInfo: [{ total: 580_000, used: usedMiB, free: 580_000 - usedMiB, percentage: 0, index: 31, name: '/', source: 'snmp' }] })
      }
    }
    if (hour >= 20 * 24 - 48) recorder.onResult({ kind: 'disks', serverId: 'young', at: clock.now, diskInfo: [{ total: 1000, used: hour, free: 1000 - hour, percentage: 0, name: 'vol/lun1', source: 'netapp' }] })
  }
  clock.now = T0 + 20 * DAY
  await recorder.close()

  const api = await startOnHistory(t, dir, clock.now, [...Object.keys(series), 'young'])
  const disks = async (id: string, query = '') => (await api.call('GET', `/api/servers/${id}/disks/history${query}`)).json.data
  const linear = await disks('linear', `?from=${new Date(T0 + 19 * DAY).toISOString()}`)
  t.equal(linear.step, '1h')
  t.equal(linear.disks.length, 1)
  t.match(linear.disks[0], { index: 31, name: '/', source: 'snmp' })
  t.equal(linear.disks[0].points.length, 24)
  t.same(linear.disks[0].points[0], { t: new Date(T0 + 19 * DAY).toISOString(), usedMiB: 122_800, totalMiB: 580_000, percentage: 21 })
  // used = 100000 + 1200/day reaches 580000 on day 400: 380 days after "now" (day 20).
  t.same(linear.disks[0].forecast, { fullAt: new Date(T0 + 400 * DAY).toISOString(), daysToFull: 380, growthMiBPerDay: 1200 })
  t.equal((await disks('linear', `?from=${new Date(T0).toISOString()}&step=1d`)).disks[0].points.length, 20)
  t.equal((await disks('flat')).disks[0].forecast, null, 'no growth')
  t.equal((await disks('shrinking')).disks[0].forecast, null, 'shrinking')
  const young = (await disks('young')).disks[0]
  t.match(young, { name: 'vol/lun1', source: 'netapp', forecast: null }, 'less than 3 days of data')
  t.notOk('index' in young)
})

t.test('ESTATUS_HISTORY=off: nothing recorded, and the routes answer 404', async t => {
  const dir = await tempDir(t)
  const api = await startApp(t, { dataFile: dataFileWith(dir, ['a']), fpingPath: join(dir, 'no-fping'), history: false }, dir)
  for (const path of ['/api/servers/a/uptime', '/api/servers/a/history', '/api/servers/a/incidents', '/api/servers/a/disks/history', '/api/stats/uptime']) {
    t.same((await api.call('GET', path)).json, { success: false, error: 'Route not found' }, path)
  }
  // Alerts are delivered and changes audited with history off too: the database then holds the alert outbox and the audit alone.
  const db = new Database(join(dir, 'history.sqlite'), { readonly: true })
  t.same(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all(), [{ name: 'alert_deliveries' }, { name: 'alert_subjects' }, { name: 'alerts' }, { name: 'audit_log' }])
  db.close()
  // SPEC §9's switch reads on / off, and says so when it is neither; true / false still work.
  t.same(['off', 'ON', 'false', 'true'].map(value => optionsFromEnv({ ESTATUS_HISTORY: value }).history), [false, true, false, true])
  t.equal(optionsFromEnv({ ESTATUS_HISTORY: 'on', ESTATUS_HISTORY_FILE: '/x/h.sqlite' }).historyFile, '/x/h.sqlite')
  t.throws(() => optionsFromEnv({ ESTATUS_HISTORY: 'maybe' }), { message: 'ESTATUS_HISTORY must be on or off, got "maybe"' })
  t.throws(() => optionsFromEnv({ ESTATUS_RETAIN_MINUTES_H: '0' }), /ESTATUS_RETAIN_MINUTES_H must be an integer/)
  t.equal(optionsFromEnv({ ESTATUS_RETAIN_DAYS_D: '0' }).retainDaysD, 0)
})

t.test('a new dnsAddress makes the state unknown again: not monitored until the monitor decides', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'history.sqlite')
  const clock = { now: T0 }
  const { storage, recorder } = await openHistory(file, clock)
  recorder.track('a', 3)
  feed(recorder, clock, T0, T0 + 30 * SECOND, true, () => true)
  recorder.reset('a', 2)
  // The monitor starts the new target offline: two failures (its new threshold) decide it.
  feed(recorder, clock, T0 + 30 * SECOND, T0 + 40 * SECOND, false, () => false)
  clock.now = T0 + MINUTE
  await recorder.flush()
  t.match(await storage.series('a', '1m', T0, T0 + MINUTE), [{ probes: 40, onlineMs: 30_000, monitoredMs: 30_000 + 29_000 }],
    'the second from the reset to the 2nd failure is not monitored; offline from then on')
  t.same(await storage.incidents('a', T0, T0 + MINUTE, 10), [{ start: T0 + 31 * SECOND, end: null }])
  await recorder.close()
})

t.test('forecast: a disk already past the fitted line is full now', async t => {
  const now = T0 + 10 * DAY
  const points = Array.from({ length: 10 * 24 }, (_, hour) => ({ t: T0 + hour * HOUR, usedMiB: 900 + hour, totalMiB: 1000 }))
  t.same(forecast(points, now), { fullAt: new Date(now).toISOString(), daysToFull: 0, growthMiBPerDay: 24 })
  t.equal(forecast(points.slice(0, 3 * 24 - 1), now), null, 'just under 3 days')
  t.not(forecast(points.slice(0, 3 * 24 + 1), now), null, '3 days')
})
