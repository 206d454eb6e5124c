// History benchmark (SPEC §9): the real recorder and SQLite storage against the way Uptime
// Kuma keeps history (one row per probe in SQLite, indexed by monitor and time).
//
//   npm run bench:history
//   BENCH_SERVERS=1000 BENCH_MINUTES=5 npm run bench:history
//
// 1. Recording: SERVERS servers probed every second for MINUTES simulated minutes, every
//    result through recorder.onResult, each minute written by recorder.flush() as it is in
//    the app. CPU is this process' user+system time over the simulated time (% of one core);
//    while flushing, the event loop waits on each write transaction (the recorder yields
//    between them): their wall and CPU times are the event-loop delay a flush causes.
// 2. Queries: 30 days of hour and day rows for every server (and the last hour of minutes),
//    bulk-loaded with SQL, then queried through the real query layer: one server's 30 days
//    at 1h, and the 30-day uptime table of all servers. p50/p99 over QUERY_RUNS runs.
// The size of a year is `npm run bench:history-year` (bench/history-year.ts).
// Reference: the results of 1. stored one row per probe (Uptime Kuma's heartbeat table);
// its size, insert CPU, and its queries: one server with 30 days of probes at 1h buckets,
// and the uptime table over the rows it has.
import Database from 'better-sqlite3'
import Fastify from 'fastify'
import { mkdtemp, rm } from 'node:fs/promises'
import { statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSqliteStorage } from '../plugins/history/sqlite-storage.ts'
import { createRecorder } from '../plugins/history/recorder.ts'
import { createHistoryQueries } from '../plugins/history/queries.ts'
import { prng } from '../test/support/prng.ts'

const SERVERS = Number(process.env.BENCH_SERVERS ?? 5000)
const MINUTES = Number(process.env.BENCH_MINUTES ?? 10)
const QUERY_RUNS = Number(process.env.QUERY_RUNS ?? 30)
// The reference's queries take seconds each.
const KUMA_RUNS = 5
const HOUR = 3_600_000
const DAY = 86_400_000
const START = Date.UTC(2026, 0, 1)
const log = Fastify({ logger: false }).log
const ids = Array.from({ length: SERVERS }, (_, i) => `server-${String(i + 1).padStart(4, '0')}`)

const cpuMs = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1000 }
const fileBytes = (file: string) => ['', '-wal'].reduce((sum, suffix) => { try { return sum + statSync(file + suffix).size } catch { return sum } }, 0)
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`
function percentile (samples: number[], p: number) {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0
}
/** Wall and CPU time per run: on a shared machine the CPU time is the steadier figure. */
async function timed (runs: number, fn: () => unknown) {
  const wall: number[] = []
  const cpu: number[] = []
  for (let i = 0; i < runs; i++) {
    const [started, cpuStarted] = [performance.now(), cpuMs()]
    await fn()
    wall.push(performance.now() - started)
    cpu.push(cpuMs() - cpuStarted)
  }
  const ms = (value: number) => value.toFixed(1)
  return `p50 ${ms(percentile(wall, 0.5))} ms, p99 ${ms(percentile(wall, 0.99))} ms (CPU p50 ${ms(percentile(cpu, 0.5))} ms, p99 ${ms(percentile(cpu, 0.99))} ms)`
}

/** The same result stream for both stores: probe i of server s at second k. */
function * results () {
  const random = prng(7)
  for (let second = 0; second < MINUTES * 60; second++) {
    const at = START + second * 1000
    for (let s = 0; s < SERVERS; s++) {
      const alive = (s + second) % 997 !== 0
      yield { serverId: ids[s]!, index: s, at, alive, rttMs: alive ? 0.2 + random() * 3 : undefined, last: s === SERVERS - 1 }
    }
  }
}

async function recordOurs (file: string) {
  let now = START
  const storage = createSqliteStorage(file)
  const recorder = createRecorder({ storage, clock: () => now, log, lastStates: new Map() })
  for (const id of ids) recorder.track(id, 4)
  // Each storage.record is one synchronous transaction: the longest the event loop waits on a flush.
  const blocks: number[] = []
  const record = storage.record
  const blocksCpu: number[] = []
  storage.record = async (minutes, disks) => {
    const [started, cpuStarted] = [performance.now(), cpuMs()]
    await record(minutes, disks)
    blocks.push(performance.now() - started)
    blocksCpu.push(cpuMs() - cpuStarted)
  }
  let flushMs = 0
  const cpuBefore = cpuMs()
  for (const result of results()) {
    now = result.at
    recorder.onResult({ kind: 'ping', serverId: result.serverId, at: result.at, alive: result.alive, isOnline: true, ...(result.rttMs === undefined ? {} : { rttMs: result.rttMs }) })
    if (result.last && (result.at - START) % 60_000 === 59_000) {
      now = result.at + 1000
      const started = performance.now()
      await recorder.flush()
      flushMs += performance.now() - started
    }
  }
  const cpu = cpuMs() - cpuBefore
  await recorder.close()
  await storage.close()
  return { cpu, flushMs, blocks, blocksCpu, bytes: fileBytes(file) }
}

async function recordKuma (file: string) {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.exec(`CREATE TABLE heartbeat (id INTEGER PRIMARY KEY AUTOINCREMENT, important BOOLEAN NOT NULL DEFAULT 0, monitor_id INTEGER NOT NULL,
    status SMALLINT NOT NULL, msg TEXT, time DATETIME NOT NULL, ping INTEGER, duration INTEGER NOT NULL DEFAULT 0, down_count INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX monitor_time_index ON heartbeat (monitor_id, time);`)
  const insert = db.prepare('INSERT INTO heartbeat (monitor_id, status, msg, time, ping, duration) VALUES (?, ?, ?, ?, ?, 1)')
  const second = db.transaction((rows: Array<[number, number, string, string, number | null]>) => { for (const row of rows) insert.run(...row) })
  let batch: Array<[number, number, string, string, number | null]> = []
  const cpuBefore = cpuMs()
  for (const result of results()) {
    batch.push([result.index + 1, result.alive ? 1 : 0, result.alive ? '' : 'timeout', new Date(result.at).toISOString().replace('T', ' ').slice(0, 23), result.rttMs === undefined ? null : Math.round(result.rttMs)])
    if (result.last) { second(batch); batch = [] }
  }
  const cpu = cpuMs() - cpuBefore
  db.pragma('wal_checkpoint(TRUNCATE)')
  return { db, cpu, bytes: fileBytes(file) }
}

/** 30 days of hour and day rows per server, the last hour of minutes, loaded in bulk. */
function loadThirtyDays (file: string, now: number) {
  const db = new Database(file)
  const first = now - 30 * DAY
  db.exec('DELETE FROM minutes; DELETE FROM hours; DELETE FROM days;')
  const fill = (table: string, unit: number, from: number, to: number, scale: number) => db.prepare(`
    WITH RECURSIVE p(t) AS (SELECT ? UNION ALL SELECT t + 1 FROM p WHERE t + 1 < ?)
    INSERT INTO ${table} SELECT s.key, p.t, 60 * ${scale}, 59 * ${scale}, 200, 95000 * ${scale}, 3100, ${scale} * 59000 - (s.key % 7) * 100, ${scale} * 60000
    FROM servers s, p`).run(Math.floor(from / unit), Math.ceil(to / unit))
  fill('hours', HOUR, first, now, 60)
  fill('days', DAY, first, now, 1440)
  fill('minutes', 60_000, now - HOUR, now, 1)
  db.close()
}

async function main () {
  const dir = await mkdtemp(join(tmpdir(), 'estatus-bench-history-'))
  try {
    console.log(`# ${SERVERS} servers, 1 s probing, ${MINUTES} simulated minutes (${(SERVERS * MINUTES * 60 / 1e6).toFixed(2)} M results)`)
    const oursFile = join(dir, 'history.sqlite')
    const ours = await recordOurs(oursFile)
    const simulatedMs = MINUTES * 60_000
    console.log(`ours       record: CPU ${(ours.cpu / simulatedMs * 100).toFixed(2)} % of one core (${(ours.cpu / 1000).toFixed(1)} s for ${MINUTES} min), ` +
      `flushing ${(ours.flushMs / MINUTES).toFixed(0)} ms/min in ${ours.blocks.length / MINUTES} writes; event loop held per write ` +
      `p50 ${percentile(ours.blocks, 0.5).toFixed(1)} ms, p99 ${percentile(ours.blocks, 0.99).toFixed(1)} ms, max ${Math.max(...ours.blocks).toFixed(1)} ms ` +
      `(CPU p50 ${percentile(ours.blocksCpu, 0.5).toFixed(1)} ms, p99 ${percentile(ours.blocksCpu, 0.99).toFixed(1)} ms); file ${mib(ours.bytes)}`)
    const kuma = await recordKuma(join(dir, 'kuma.sqlite'))
    const perServerYear = kuma.bytes / SERVERS * (365 * DAY / simulatedMs)
    console.log(`kuma-style record: CPU ${(kuma.cpu / simulatedMs * 100).toFixed(2)} % of one core, file ${mib(kuma.bytes)} → ${mib(perServerYear)} per server per year`)

    const now = START + simulatedMs
    loadThirtyDays(oursFile, now)
    const storage = createSqliteStorage(oursFile)
    const recorder = createRecorder({ storage, clock: () => now, log, lastStates: new Map() })
    const queries = createHistoryQueries(storage, recorder, () => now, { minutesMs: 48 * HOUR, hoursMs: 400 * DAY, daysMs: null })
    const one = ids[SERVERS >> 1]!
    console.log(`# queries, 30 days loaded for ${SERVERS} servers (${mib(fileBytes(oursFile))}), ${QUERY_RUNS} runs each`)
    console.log(`ours       one server 30 d at 1h: ${await timed(QUERY_RUNS, () => queries.history(one, now - 30 * DAY, now, '1h'))}` +
      ` (${(await queries.history(one, now - 30 * DAY, now, '1h')).length} points)`)
    console.log(`ours       uptime table 30 d, ${SERVERS} servers: ${await timed(QUERY_RUNS, () => queries.uptimeStats('30d', ids, []))}`)
    await storage.close()

    const { db } = kuma
    const time = (at: number) => new Date(at).toISOString().replace('T', ' ').slice(0, 23)
    // One monitor with 30 days of probes, the rest with what the recording left.
    db.prepare(`WITH RECURSIVE p(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM p WHERE k < ?)
      INSERT INTO heartbeat (monitor_id, status, msg, time, ping, duration)
      SELECT ?, 1, '', strftime('%Y-%m-%d %H:%M:%f', (? - k * 1000) / 1000.0, 'unixepoch'), 1, 1 FROM p`).run(30 * 86400 - MINUTES * 60, SERVERS + 1, START)
    const hourly = db.prepare(`SELECT substr(time, 1, 13) AS hour, count(*) AS probes, sum(status) AS up, min(ping), avg(ping), max(ping)
      FROM heartbeat WHERE monitor_id = ? AND time >= ? AND time < ? GROUP BY hour`)
    const table = db.prepare('SELECT monitor_id, sum(status) AS up, count(*) AS probes FROM heartbeat WHERE time >= ? GROUP BY monitor_id')
    console.log(`# kuma-style queries (${(db.prepare('SELECT count(*) AS n FROM heartbeat').get() as { n: number }).n} rows)`)
    console.log(`kuma-style one server 30 d at 1h (2.6 M rows of its own): ${await timed(KUMA_RUNS, () => hourly.all(SERVERS + 1, time(now - 30 * DAY), time(now)))}`)
    console.log(`kuma-style uptime table, ${SERVERS} servers over the ${MINUTES} min it holds (a 30-day table reads ${30 * 1440 / MINUTES}x the rows): ${await timed(KUMA_RUNS, () => table.all(time(now - 30 * DAY)))}`)
    db.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
