/**
 * Disk-round bench THROUGH THE MONITOR: the real plugin (config store, monitor, disk
 * scheduler, SNMP probe, event bus) with 100 servers whose SNMP disks (2–4 hrStorage rows
 * each) are read from one local Net-SNMP `snmpd` every DISK_BENCH_INTERVAL_MS.
 *
 *   node --import tsx/esm bench/disks.ts
 *
 * Env: DISK_BENCH_SERVERS (100), DISK_BENCH_ROUNDS (10), DISK_BENCH_INTERVAL_MS (2000).
 *
 * Measured per round (= one interval; window edges in the idle gap between rounds):
 * - servers read, and per server the time from its SNMP session's creation to its close
 *   (net-snmp's createSession is wrapped — the probe's `require('net-snmp')` is the same
 *   CommonJS module object — so nothing of the product is changed);
 * - span: first session opened → last one closed in the round (includes the spread of the
 *   servers' start offsets, which the scheduler keeps from their first round);
 * - this process's CPU (process.cpuUsage: all threads) and event-loop busy time (ELU);
 * - snmpd's CPU (/proc/<pid>/stat, 10 ms ticks) and the diskUpdate events published.
 * The same window with no server configured gives the idle baseline of the app.
 */
import Fastify from 'fastify'
import { createRequire } from 'node:module'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import estatus from '../app.ts'
import { cpuMs } from '../test/support/proc.ts'
import { startSnmpd, snmpwalk } from '../test/support/snmpd.ts'
import { sleep } from '../test/support/wait.ts'

const SERVERS = Number(process.env.DISK_BENCH_SERVERS ?? 100)
const ROUNDS = Number(process.env.DISK_BENCH_ROUNDS ?? 10)
const INTERVAL_MS = Number(process.env.DISK_BENCH_INTERVAL_MS ?? 2000)
const HR = '1.3.6.1.2.1.25.2.3.1'

// ---- session timing: wrap net-snmp's createSession (same module instance as the probe's)
interface SessionRecord { start: number, end?: number }
const sessions: SessionRecord[] = []
const netSnmp = createRequire(import.meta.url)('net-snmp') as { createSession: (...args: unknown[]) => { close: (...args: unknown[]) => unknown } }
const createSession = netSnmp.createSession
netSnmp.createSession = function (this: unknown, ...args: unknown[]) {
  const record: SessionRecord = { start: performance.now() }
  sessions.push(record)
  const session = createSession.apply(this, args)
  const close = session.close
  session.close = function (this: unknown, ...closeArgs: unknown[]) {
    record.end ??= performance.now()
    return close.apply(this, closeArgs)
  }
  return session
}

function quantile (xs: number[], q: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const pad = (v: string | number, n: number): string => String(v).padStart(n)
const f1 = (x: number): string => Number.isFinite(x) ? x.toFixed(1) : 'n/a'

interface Window { cpuMs: number, userMs: number, sysMs: number, busyMs: number, agentMs: number | undefined, events: number, errors: number }

async function main (): Promise<void> {
  const agent = await startSnmpd()
  const dir = await mkdtemp(join(tmpdir(), 'disk-bench-'))
  const app = Fastify({ logger: false })
  let diskEvents = 0
  let diskErrors = 0
  try {
    const indexes = (await snmpwalk(agent, `${HR}.1`)).map(([, v]) => Number(v))
    if (indexes.length < 4) throw new Error(`the agent lists only ${indexes.length} storage rows`)

    await app.register(estatus, {
      dataFile: join(dir, 'estatus.json'),
      watchDataFile: false,
      diskIntervalMs: INTERVAL_MS,
      snmpPort: agent.port,
      snmpCommunity: agent.community,
      pingIntervalMs: 10000
    })
    await app.ready()
    app.estatus.events.subscribe((event) => {
      if (event.type !== 'diskUpdate') return
      diskEvents++
      if (event.update.error !== undefined) diskErrors++
    })

    /** One interval of measurement from now. */
    const measure = async (): Promise<Window> => {
      const e0 = diskEvents
      const x0 = diskErrors
      const a0 = cpuMs(agent.proc.pid)
      const elu0 = performance.eventLoopUtilization()
      const c0 = process.cpuUsage()
      await sleep(INTERVAL_MS)
      const c = process.cpuUsage(c0)
      const elu = performance.eventLoopUtilization(elu0)
      const a1 = cpuMs(agent.proc.pid)
      return {
        cpuMs: (c.user + c.system) / 1000,
        userMs: c.user / 1000,
        sysMs: c.system / 1000,
        busyMs: elu.active,
        agentMs: a0 !== undefined && a1 !== undefined ? a1 - a0 : undefined,
        events: diskEvents - e0,
        errors: diskErrors - x0
      }
    }

    // Idle baseline: the app with no server.
    await sleep(500)
    const idle: Window[] = []
    for (let i = 0; i < 3; i++) idle.push(await measure())

    // 100 servers, 2–4 distinct rows each, deterministically spread over the table.
    let diskCount = 0
    const addStart = performance.now()
    for (let i = 0; i < SERVERS; i++) {
      const n = 2 + (i % 3)
      const picked = [...new Set(Array.from({ length: n }, (_, j) => indexes[(i * 7 + j * 3) % indexes.length]!))]
      diskCount += picked.length
      await app.estatus.store.createServer({
        name: `bench-${i}`,
        ip: '10.9.0.1',
        dnsAddress: '127.0.0.1',
        snmp: { enabled: true, disks: picked.map((index, j) => ({ index, name: `d${j}` })) }
      })
    }
    const addedAt = performance.now()

    // Warm-up: every server read once, then place the window edges in the idle gap,
    // half an interval after the start of a round.
    const started = Date.now()
    while (app.estatus.monitor.statuses().some(s => s.diskInfo === null)) {
      if (Date.now() - started > 30000) throw new Error('not every server was read within 30 s')
      await sleep(50)
    }
    const firstRound = sessions.filter(s => s.start >= addedAt)
    const roundStart = Math.min(...firstRound.map(s => s.start))
    let edge = roundStart + INTERVAL_MS * 1.5
    while (edge < performance.now()) edge += INTERVAL_MS
    await sleep(edge - performance.now())

    console.log(`Disk rounds through the monitor: ${SERVERS} servers (${diskCount} SNMP disks, 2–4 per server) × ${ROUNDS} rounds, interval ${INTERVAL_MS} ms`)
    console.log(`agent: Net-SNMP snmpd on udp 127.0.0.1:${agent.port}, ${indexes.length} hrStorage rows; node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'})`)
    console.log(`servers added one by one over ${f1(addedAt - addStart)} ms (one config write each), first read ≤ ${Math.floor(Math.min(1000, INTERVAL_MS / 10))} ms later (scheduler spread); ` +
      'each server keeps that offset in every round, so the span below is mostly those offsets')
    console.log('')
    console.log('round | read | span ms | per server ms p50 / p95 / max | cpu ms (user+sys)  | loop busy ms | snmpd cpu ms | diskUpdates')
    console.log('------+------+---------+-------------------------------+--------------------+--------------+--------------+------------')
    const rounds: Array<Window & { read: number, span: number, p50: number, p95: number, max: number }> = []
    for (let round = 1; round <= ROUNDS; round++) {
      const from = performance.now()
      const w = await measure()
      const to = from + INTERVAL_MS
      const mine = sessions.filter(s => s.start >= from && s.start < to && s.end !== undefined)
      const durations = mine.map(s => s.end! - s.start)
      const span = mine.length > 0 ? Math.max(...mine.map(s => s.end!)) - Math.min(...mine.map(s => s.start)) : NaN
      const r = { ...w, read: mine.length, span, p50: quantile(durations, 0.5), p95: quantile(durations, 0.95), max: Math.max(...durations) }
      rounds.push(r)
      console.log(`${pad(round, 5)} | ${pad(r.read, 4)} | ${pad(f1(r.span), 7)} | ${pad(`${f1(r.p50)} / ${f1(r.p95)} / ${f1(r.max)}`, 29)} | ${pad(`${f1(r.cpuMs)} (${f1(r.userMs)}+${f1(r.sysMs)})`, 18)} | ${pad(f1(r.busyMs), 12)} | ${pad(r.agentMs ?? 'n/a', 12)} | ${pad(`${r.events}${r.errors > 0 ? ` (${r.errors} err)` : ''}`, 11)}`)
    }
    const idleCpu = median(idle.map(w => w.cpuMs))
    const idleBusy = median(idle.map(w => w.busyMs))
    const cpu = median(rounds.map(r => r.cpuMs))
    const busy = median(rounds.map(r => r.busyMs))
    console.log('')
    console.log(`idle app (no server), per ${INTERVAL_MS} ms: cpu ${idle.map(w => f1(w.cpuMs)).join(' / ')} ms, loop busy ${idle.map(w => f1(w.busyMs)).join(' / ')} ms`)
    console.log(`per round (median): span ${f1(median(rounds.map(r => r.span)))} ms, per server p50 ${f1(median(rounds.map(r => r.p50)))} ms / p95 ${f1(median(rounds.map(r => r.p95)))} ms; ` +
      `cpu ${f1(cpu)} ms (${f1(cpu - idleCpu)} ms above idle = ${((cpu - idleCpu) / SERVERS).toFixed(2)} ms per server, ${((cpu - idleCpu) / diskCount).toFixed(3)} ms per disk); ` +
      `loop busy ${f1(busy)} ms (${f1(busy - idleBusy)} above idle)`)
    console.log(`at the default ESTATUS_DISK_INTERVAL_MS=60000 that is ${((cpu - idleCpu) / 60000 * 100).toFixed(3)} % of one core; at ${INTERVAL_MS} ms, ${((cpu - idleCpu) / INTERVAL_MS * 100).toFixed(2)} %`)
    const failed = app.estatus.monitor.statuses().filter(s => s.diskInfo === null || s.diskInfo.length === 0).length
    console.log(`servers without disks at the end: ${failed}; diskUpdates with an error during the bench: ${diskErrors}`)
    console.log('cpu ms is process.cpuUsage() over the whole interval (all threads of this process, fping parsing included); loop busy = event-loop utilization (wall time, so above cpu when the machine is busy)')
  } finally {
    await app.close()
    await agent.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
