// SSE fan-out benchmark: the real server (server.ts, plugins/sse.ts) against a minimal
// node:http broadcaster (bench/sse-reference.ts), at N connected clients each.
//
//   npm run bench:sse                          # N = 1,000, 5,000, 10,000
//   BENCH_SSE_N=1000,5000 npm run bench:sse
//
// Per implementation and N, everything fresh: the server in its own child process (the real
// one: `server.ts` with HOST=127.0.0.1, a temp ESTATUS_DATA_FILE, LOG_LEVEL=warn, the monitor
// running as configured by default — fping at 1 s — and ESTATUS_HEARTBEAT_MS=3600000 so the
// heartbeat adds no traffic), two client child processes (bench/sse-client.ts, raw
// HTTP/1.1 over node:net, N/2 streams each, from 16 loopback source addresses each — a fresh
// set per run — to stay clear of ephemeral-port exhaustion and TIME_WAIT), then:
//   1. warm-up: 3 POSTs and 20 short-lived streams; the server's RSS is read ("before");
//   2. connect: all N streams opened (≤ 200 per client process not yet ready at a time);
//      connect time = until the last one got `initial` (reference: `connected`);
//   3. idle 2 s, RSS read again → RSS per client = (RSS idle − RSS before) / N;
//   4. 200 create+delete pairs, one change at a time: `POST /api/config/servers` {name:
//      bench-NNNN, dnsAddress: its own loopback address, so every change changes fping's
//      targets}, then `DELETE` of it; pairs at least 20 ms apart; latency = a client's receive
//      time of the matching `serverAdded` frame − the time the POST was sent, over all client ×
//      event pairs; CPU (utime+stime from /proc) from before the first POST until every client
//      got every event: the server process, and its children (fping: those still running,
//      and those that ended, reaped into the server's cutime+cstime).
//      The reference writes each change as temp file + fsync + rename, as the real store does.
// BENCH_SSE_CPU_PROF=<dir>: both servers run with `node --cpu-prof`, writing their profiles
// to <dir>/estatus and <dir>/reference (open them in Chrome DevTools or speedscope).
// Columns besides those: `POST p50` = the creating request's round trip; `1st p50` = median
// over events of the earliest client's latency (work before the fan-out starts); `spread p50`
// = median over events of last − first client (the fan-out itself). Targets (estatus): 100 %
// delivery exactly once at N=10,000; p99 ≤ 1.5 × the reference's p99 at each N; ≤ 16 KiB RSS
// per idle client; total CPU (server + fping) ≤ 1.3 × the reference's at N=1,000.
// Clock: process.hrtime (CLOCK_MONOTONIC, shared by all processes of the machine).
// fd limit: children start under `prlimit --nofile=<max allowed>` when the soft limit is lower
// (without CAP_SYS_RESOURCE the hard limit is the ceiling; N above it minus a margin is skipped).
// Bounded: N ≤ 18,000 and ≤ 5 sizes, every phase has a timeout, runs that would pass 7 minutes
// are skipped, a watchdog stops everything at 7.5; children and temp dirs are always removed.
// Exit code: 0 unless the bench itself crashed (a child died, a phase timed out); FAILed
// targets do not change it.
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { childrenCpu, childrenCpuBetween, cpuMs, rssKiB } from '../test/support/proc.ts'
import { freePort } from '../test/support/ports.ts'
import { sleep } from '../test/support/wait.ts'
import { superviseChildren } from './support/children.ts'
import { FAN_OUT, collectDeliveries, completeWithin, connectStreams, createAndDelete, fromAll, now, percentile, startClients, streamNotes } from './support/fan-out.ts'
import { fmt, fmtInt, printTable } from './support/format.ts'
import { httpCall, waitHealthy, warmStream } from './support/http.ts'
import { startEstatus, watchServer, type BenchServer } from './support/servers.ts'

const { events: EVENTS, spacingMs: SPACING_MS, sourcesPerProcess: SOURCES_PER_PROC, connectConcurrency: CONNECT_CONCURRENCY, warmupPosts: WARMUP_POSTS, warmupStreams: WARMUP_STREAMS } = FAN_OUT
const CLIENT_PROCS = 2
const IDLE_SETTLE_MS = 2000
const MAX_N = 18000
const WATCHDOG_MS = 7.5 * 60_000
/** A run is not started when the bench could pass this mark by running it (rough estimate: 15 s + 10 ms per client). */
const BUDGET_MS = 7 * 60_000
const estimateRunMs = (n: number): number => 15_000 + 10 * n
const T = { ready: 30_000, connectBase: 30_000, connectPerClient: 10, post: 10_000, mutations: 150_000, deliver: 30_000, finish: 30_000 }

function parseSizes (): number[] {
  const raw = process.env.BENCH_SSE_N?.trim()
  if (raw === undefined || raw === '') return [1000, 5000, 10000]
  const sizes = raw.split(',').map(s => Number(s.trim().replace(/_/g, '')))
  if (sizes.length === 0 || sizes.length > 5 || sizes.some(n => !Number.isInteger(n) || n < 1 || n > MAX_N)) {
    throw new Error(`BENCH_SSE_N must be 1 to 5 comma-separated integers from 1 to ${MAX_N}, got '${raw}'`)
  }
  return sizes
}

const children = superviseChildren()

// ---- one run -------------------------------------------------------------------------
type Impl = 'estatus' | 'reference'

interface RunResult {
  impl: Impl
  n: number
  connectMs: number
  connected: number
  p50: number
  p99: number
  max: number
  postP50: number
  firstP50: number
  spreadP50: number
  delivered: number
  expected: number
  duplicates: number
  cpuS: number
  childCpuS: number
  rssBeforeKiB: number
  rssIdleKiB: number
  rssPerClientKiB: number
  dataLineBytes: number
  notes: string[]
}

async function startServer (impl: Impl, dir: string): Promise<BenchServer> {
  const profileDir = process.env.BENCH_SSE_CPU_PROF
  const nodeFlags = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(profileDir, impl)]
  if (impl === 'estatus') return await startEstatus(children, { dataFile: join(dir, 'estatus.json'), nodeFlags, timeoutMs: T.ready })
  const port = await freePort()
  const child = children.start('bench/sse-reference.ts', { nodeFlags, env: { HOST: '127.0.0.1', PORT: String(port), DATA_FILE: join(dir, 'reference.json') } })
  const server = watchServer(child, port)
  await waitHealthy(port, child, T.ready, server.lastWords)
  return server
}

async function runOne (impl: Impl, n: number, runIndex: number, log: (line: string) => void): Promise<RunResult> {
  const dir = children.tempDir('estatus-bench-sse-')
  const notes: string[] = []
  let server: BenchServer | null = null
  const clients = await startClients(children, CLIENT_PROCS, [], T.ready)
  try {
    // 1. ready + warm-up
    server = await startServer(impl, dir)
    const { port, pid } = server
    for (let i = 1; i <= WARMUP_POSTS; i++) {
      const answer = await httpCall(port, 'POST', '/api/config/servers', JSON.stringify({ name: `warmup-${i}`, ip: `10.255.0.${i}`, dnsAddress: '127.0.0.1' }))
      if (answer.status !== 201) throw new Error(`warm-up POST answered ${answer.status}: ${answer.text.slice(0, 200)}`)
    }
    const readyOn = impl === 'estatus' ? 'initial' : 'connected'
    await Promise.all(Array.from({ length: WARMUP_STREAMS }, () => warmStream(port, `"type":"${readyOn}"`, T.ready)))
    await sleep(1000)
    const rssBeforeKiB = rssKiB(pid) ?? NaN

    // 2. connect
    const connection = await connectStreams(clients, [server.child], clients.map((_, k) => ({
      port,
      count: Math.floor(n / CLIENT_PROCS) + (k < n % CLIENT_PROCS ? 1 : 0),
      localAddresses: Array.from({ length: SOURCES_PER_PROC }, (_, j) => `127.${10 + runIndex}.${k}.${j + 1}`)
    })), { events: EVENTS, readyOn, concurrency: CONNECT_CONCURRENCY, timeoutMs: T.connectBase + n * T.connectPerClient })
    if (connection.failed > 0) notes.push(`${fmtInt(connection.failed)} streams failed to connect (${connection.firstError ?? '?'})`)
    log(`  connected ${fmtInt(connection.connected)}/${fmtInt(n)} in ${fmt(connection.connectMs, 0)} ms`)

    // 3. idle RSS
    await sleep(IDLE_SETTLE_MS)
    const rssIdleKiB = rssKiB(pid) ?? NaN

    // 4. mutations
    const complete = fromAll(clients, [server.child], 'complete', T.post * EVENTS)
    const cpu0 = cpuMs(pid) ?? NaN
    const children0 = childrenCpu(pid)
    const { sent, rtt } = await createAndDelete([port], EVENTS, SPACING_MS, T.mutations)
    const lastAnswer = now()
    if (!await completeWithin(complete, T.deliver)) notes.push(`not every client got every event ${T.deliver / 1000} s after the last POST`)
    const cpu1 = cpuMs(pid) ?? NaN
    const childCpuS = childrenCpuBetween(children0, childrenCpu(pid)) / 1000
    const deliverWaitMs = now() - lastAnswer

    // 5. collect
    const d = await collectDeliveries(clients, [server.child], dir, sent, T.finish)
    notes.push(...streamNotes(d))
    const warnings = server.warnings()
    if (warnings.length > 0) notes.push(`server logged ${warnings.length} warning/error lines, first: ${warnings[0]?.slice(0, 200)}`)
    log(`  ${EVENTS} create+delete pairs done, all delivered ${fmt(deliverWaitMs, 0)} ms after the last answer; delivered ${fmtInt(d.delivered)}/${fmtInt(n * EVENTS)}`)

    return {
      impl,
      n,
      connectMs: connection.connectMs,
      connected: connection.connected,
      p50: d.p50,
      p99: d.p99,
      max: d.max,
      postP50: percentile(rtt.slice().sort(), 0.5),
      firstP50: d.firstP50,
      spreadP50: d.spreadP50,
      delivered: d.delivered,
      expected: n * EVENTS,
      duplicates: d.duplicates,
      cpuS: (cpu1 - cpu0) / 1000,
      childCpuS,
      rssBeforeKiB,
      rssIdleKiB,
      rssPerClientKiB: (rssIdleKiB - rssBeforeKiB) / n,
      dataLineBytes: d.dataLineBytes,
      notes
    }
  } catch (err) {
    await sleep(200) // let a dying server's exit be seen
    const exited = server === null ? null : server.child.exitCode ?? server.child.signalCode
    if (server !== null && exited !== null) (err as Error).message += ` (the server process exited: ${exited}${server.log.length > 0 ? '; last log: ' + server.lastWords() : ''})`
    throw err
  } finally {
    await Promise.all([...(server === null ? [] : [children.stop(server.child)]), ...clients.map(client => children.stop(client))])
    children.removeTempDir(dir)
  }
}

// ---- main ------------------------------------------------------------------------------
async function main (): Promise<number> {
  const sizes = parseSizes()
  const impls: Impl[] = ['estatus', 'reference']
  const results: RunResult[] = []
  const errors: string[] = []
  const skipped: string[] = []
  const log = (line: string): void => { console.log(line) }
  const started = Date.now()
  const watchdog = setTimeout(() => {
    console.log(`\nCRASH: the bench did not finish within ${WATCHDOG_MS / 60000} minutes`)
    report(sizes, results, errors, skipped)
    children.cleanup()
    process.exit(1)
  }, WATCHDOG_MS)
  watchdog.unref()

  console.log(`SSE fan-out bench: ${EVENTS} create+delete pairs of /api/config/servers (one change at a time, pairs >= ${SPACING_MS} ms apart) with N clients on /api/events, the monitor running`)
  console.log(`node ${process.version}, ${cpus().length} cores, ${CLIENT_PROCS} client processes (raw HTTP/1.1), fd limit ${fmtInt(children.fdLimit)}, clock CLOCK_MONOTONIC`)
  let runIndex = 0
  for (const n of sizes) {
    for (const impl of impls) {
      const index = runIndex++
      if (n + 500 > children.fdLimit) {
        skipped.push(`${impl} N=${fmtInt(n)}: needs ~${fmtInt(n + 500)} fds in the server process, limit ${fmtInt(children.fdLimit)}`)
        continue
      }
      if (Date.now() - started + estimateRunMs(n) > BUDGET_MS) {
        skipped.push(`${impl} N=${fmtInt(n)}: would overrun the ${BUDGET_MS / 60000}-minute budget`)
        continue
      }
      log(`[${impl} N=${fmtInt(n)}] load average ${loadavg().map(l => l.toFixed(2)).join(' ')}`)
      try {
        results.push(await runOne(impl, n, index, log))
      } catch (err) {
        errors.push(`${impl} N=${fmtInt(n)}: ${(err as Error).message}`)
        log(`  CRASH: ${(err as Error).message}`)
      }
    }
  }
  clearTimeout(watchdog)
  report(sizes, results, errors, skipped)
  console.log(`\ntotal ${fmt((Date.now() - started) / 1000, 0)} s`)
  return errors.length > 0 ? 1 : 0
}

function report (sizes: number[], results: RunResult[], errors: string[], skipped: string[]): void {
  const head = ['N', 'impl', 'connect ms', 'p50 ms', 'p99 ms', 'max ms', 'POST p50 ms', '1st p50 ms', 'spread p50 ms', 'delivered', 'dups', 'srv CPU s', 'child CPU s', 'total CPU s', 'RSS/client KiB']
  const rows = results.map(r => [
    fmtInt(r.n),
    r.impl,
    fmt(r.connectMs, 0),
    fmt(r.p50, 2),
    fmt(r.p99, 2),
    fmt(r.max, 2),
    fmt(r.postP50, 2),
    fmt(r.firstP50, 2),
    fmt(r.spreadP50, 2),
    `${fmt(100 * r.delivered / r.expected, 3)}%`,
    fmtInt(r.duplicates),
    fmt(r.cpuS, 2),
    fmt(r.childCpuS, 2),
    fmt(r.cpuS + r.childCpuS, 2),
    fmt(r.rssPerClientKiB, 1)
  ])
  console.log('\nResults (latency = POST sent -> frame received, over all client x event pairs; CPU = user+sys over the mutation phase: the server, its children (fping), both)')
  printTable(head, rows, new Set([1]))
  for (const r of results) {
    console.log(`  ${r.impl} N=${fmtInt(r.n)}: serverAdded data line ${r.dataLineBytes} B, RSS ${fmtInt(r.rssBeforeKiB)} -> ${fmtInt(r.rssIdleKiB)} KiB, ${fmtInt(r.delivered)}/${fmtInt(r.expected)} delivered${r.notes.length > 0 ? '; ' + r.notes.join('; ') : ''}`)
  }

  console.log('\nTargets (estatus)')
  const find = (impl: Impl, n: number): RunResult | undefined => results.find(r => r.impl === impl && r.n === n)
  const verdict = (ok: boolean): string => ok ? 'PASS' : 'FAIL'
  const at10k = find('estatus', 10000)
  if (!sizes.includes(10000)) console.log('  100% delivery at N=10,000: n/a (N=10,000 not run)')
  else if (at10k === undefined) console.log('  100% delivery at N=10,000: FAIL (no result)')
  else console.log(`  100% delivery at N=10,000: ${verdict(at10k.delivered === at10k.expected && at10k.duplicates === 0)} (${fmtInt(at10k.delivered)}/${fmtInt(at10k.expected)}, ${fmtInt(at10k.duplicates)} duplicates)`)
  for (const n of sizes) {
    const ours = find('estatus', n)
    const ref = find('reference', n)
    if (ours === undefined || ref === undefined) { console.log(`  p99 <= 1.5x reference at N=${fmtInt(n)}: FAIL (missing run)`); continue }
    console.log(`  p99 <= 1.5x reference at N=${fmtInt(n)}: ${verdict(ours.p99 <= 1.5 * ref.p99)} (${fmt(ours.p99, 2)} ms vs ${fmt(ref.p99, 2)} ms, ${fmt(ours.p99 / ref.p99, 2)}x)`)
  }
  for (const n of sizes.filter(size => size === 1000)) {
    const ours = find('estatus', n)
    const ref = find('reference', n)
    if (ours === undefined || ref === undefined) { console.log(`  total CPU <= 1.3x reference at N=${fmtInt(n)}: FAIL (missing run)`); continue }
    const total = ours.cpuS + ours.childCpuS
    const refTotal = ref.cpuS + ref.childCpuS
    console.log(`  total CPU <= 1.3x reference at N=${fmtInt(n)}: ${verdict(total <= 1.3 * refTotal)} (${fmt(total, 2)} s = ${fmt(ours.cpuS, 2)} server + ${fmt(ours.childCpuS, 2)} fping, vs ${fmt(refTotal, 2)} s, ${fmt(total / refTotal, 2)}x)`)
  }
  for (const n of sizes) {
    const ours = find('estatus', n)
    if (ours === undefined) { console.log(`  RSS <= 16 KiB per idle client at N=${fmtInt(n)}: FAIL (missing run)`); continue }
    console.log(`  RSS <= 16 KiB per idle client at N=${fmtInt(n)}: ${verdict(ours.rssPerClientKiB <= 16)} (${fmt(ours.rssPerClientKiB, 1)} KiB)`)
  }
  if (skipped.length > 0) {
    console.log('\nSkipped')
    for (const s of skipped) console.log(`  ${s}`)
  }
  if (errors.length > 0) {
    console.log('\nCrashed runs')
    for (const e of errors) console.log(`  ${e}`)
  }
}

main().then(code => {
  children.cleanup()
  process.exit(code)
}, err => {
  console.error(err)
  children.cleanup()
  process.exit(1)
})
