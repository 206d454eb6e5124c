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
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request, Agent } from 'node:http'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../test/support/ports.ts'
import { childrenCpu, childrenCpuBetween, cpuMs, rssKiB } from '../test/support/proc.ts'
import { sleep } from '../test/support/wait.ts'
import type { ClientCommand, ClientMessage, ClientStats } from './sse-client.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const EVENTS = 200
const SPACING_MS = 20
const CLIENT_PROCS = 2
const SOURCES_PER_PROC = 16
const CONNECT_CONCURRENCY = 200
const WARMUP_POSTS = 3
const WARMUP_STREAMS = 20
const IDLE_SETTLE_MS = 2000
const MAX_N = 18000
const WATCHDOG_MS = 7.5 * 60_000
/** A run is not started when the bench could pass this mark by running it (rough estimate: 15 s + 10 ms per client). */
const BUDGET_MS = 7 * 60_000
const estimateRunMs = (n: number): number => 15_000 + 10 * n
const T = { ready: 30_000, connectBase: 30_000, connectPerClient: 10, post: 10_000, mutations: 150_000, deliver: 30_000, finish: 30_000, stop: 5_000 }

const now = (): number => Number(process.hrtime.bigint()) / 1e6
const fmtInt = (n: number): string => n.toLocaleString('en-US')
const fmt = (n: number, digits = 1): string => Number.isFinite(n) ? n.toFixed(digits) : '-'

function parseSizes (): number[] {
  const raw = process.env.BENCH_SSE_N?.trim()
  if (raw === undefined || raw === '') return [1000, 5000, 10000]
  const sizes = raw.split(',').map(s => Number(s.trim().replace(/_/g, '')))
  if (sizes.length === 0 || sizes.length > 5 || sizes.some(n => !Number.isInteger(n) || n < 1 || n > MAX_N)) {
    throw new Error(`BENCH_SSE_N must be 1 to 5 comma-separated integers from 1 to ${MAX_N}, got '${raw}'`)
  }
  return sizes
}

// ---- child processes, cleaned up whatever happens -------------------------------------
const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()

function cleanup (): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try { process.kill(child.pid, 'SIGKILL') } catch { /* gone */ }
    }
  }
  children.clear()
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}
process.on('exit', cleanup)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => { console.log(`\n${signal}: stopping`); cleanup(); process.exit(130) })
}

/** fd limit for the children: raise the soft limit to the hard one (root without CAP_SYS_RESOURCE cannot go higher). */
const fdLimit = ((): { prefix: string[], limit: number } => {
  let hard = 0
  let soft = 0
  try {
    const out = execFileSync('bash', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n')
    soft = out[0] === 'unlimited' ? 1 << 20 : Number(out[0])
    hard = out[1] === 'unlimited' ? 1 << 20 : Number(out[1])
  } catch { return { prefix: [], limit: 1024 } }
  for (const want of [200_000, hard]) {
    if (want <= soft) break
    const ok = spawnSync('prlimit', [`--nofile=${want}:${want}`, 'true'], { stdio: 'ignore' }).status === 0
    if (ok) return { prefix: ['prlimit', `--nofile=${want}:${want}`, '--'], limit: want }
  }
  return { prefix: [], limit: soft }
})()

function start (file: string, nodeFlags: string[], env: NodeJS.ProcessEnv, ipc: boolean): ChildProcess {
  const argv = [...fdLimit.prefix, process.execPath, ...nodeFlags, '--import', 'tsx', file]
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe']
  })
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  return child
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), T.stop)
  await exited
  clearTimeout(timer)
}

// ---- HTTP from the orchestrator ----------------------------------------------------
const agent = new Agent({ keepAlive: true, maxSockets: 1 })

async function httpCall (port: number, method: string, path: string, body?: string): Promise<{ status: number, text: string }> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      res.on('error', reject)
    })
    req.setTimeout(T.post, () => req.destroy(new Error(`${method} ${path}: no answer within ${T.post} ms`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** Opens one event stream, waits for its ready frame, closes it. */
async function warmStream (port: number, marker: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/events', agent: false, headers: { accept: 'text/event-stream' } }, res => {
      let seen = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        seen += chunk
        if (seen.includes(marker)) { req.destroy(); resolve() }
      })
      res.on('error', () => { /* destroyed */ })
    })
    req.setTimeout(T.ready, () => req.destroy(new Error('warm-up stream: no ready frame')))
    req.on('error', err => { if (err.message !== 'socket hang up') reject(err) })
    req.end()
  })
}

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

/** Settles when `register` calls done or fail (event-driven, no polling), or rejects after `ms`. */
function settleWithin<M> (what: string, ms: number, register: (done: (value: M) => void, fail: (err: Error) => void) => () => void): Promise<M> {
  return new Promise<M>((resolve, reject) => {
    let off = (): void => {}
    const timer = setTimeout(() => { off(); reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
    off = register(value => { clearTimeout(timer); off(); resolve(value) }, err => { clearTimeout(timer); off(); reject(err) })
  })
}

/** Resolves with each client's message of `ev`, once all have sent it; rejects when a client or the server dies. */
function fromAll<E extends ClientMessage['ev']> (clients: ChildProcess[], server: ChildProcess, ev: E, ms: number): Promise<Array<Extract<ClientMessage, { ev: E }>>> {
  return settleWithin(`every client's '${ev}'`, ms, (done, fail) => {
    const got = new Map<ChildProcess, Extract<ClientMessage, { ev: E }>>()
    const listeners: Array<() => void> = []
    for (const client of clients) {
      const onMessage = (m: ClientMessage): void => {
        if (m.ev !== ev) return
        got.set(client, m as Extract<ClientMessage, { ev: E }>)
        if (got.size === clients.length) done(clients.map(c => got.get(c) as Extract<ClientMessage, { ev: E }>))
      }
      const onExit = (code: number | null, signal: string | null): void => {
        if (!got.has(client)) fail(new Error(`a client process exited (${code ?? signal}) before '${ev}'`))
      }
      client.on('message', onMessage)
      client.on('exit', onExit)
      listeners.push(() => { client.off('message', onMessage); client.off('exit', onExit) })
    }
    const onServerExit = (code: number | null, signal: string | null): void => { fail(new Error(`the server exited (${code ?? signal}) while waiting for '${ev}'`)) }
    server.on('exit', onServerExit)
    listeners.push(() => { server.off('exit', onServerExit) })
    return () => { for (const off of listeners) off() }
  })
}

const percentile = (sorted: Float64Array, p: number): number => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number

async function runOne (impl: Impl, n: number, runIndex: number, log: (line: string) => void): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'estatus-bench-sse-'))
  tempDirs.add(dir)
  const notes: string[] = []
  const port = await freePort()
  const serverLog: string[] = []
  const profileDir = process.env.BENCH_SSE_CPU_PROF
  const profile = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(profileDir, impl)]
  const server = impl === 'estatus'
    ? start('server.ts', profile, {
      HOST: '127.0.0.1',
      PORT: String(port),
      ESTATUS_DATA_FILE: join(dir, 'estatus.json'),
      LOG_LEVEL: 'warn',
      ESTATUS_HEARTBEAT_MS: '3600000'
    }, false)
    : start('bench/sse-reference.ts', profile, { HOST: '127.0.0.1', PORT: String(port), DATA_FILE: join(dir, 'reference.json') }, false)
  for (const stream of [server.stdout, server.stderr]) {
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim() !== '' && serverLog.length < 200) serverLog.push(line)
    })
  }
  const clients = Array.from({ length: CLIENT_PROCS }, () => start('bench/sse-client.ts', [], {}, true))
  try {
    const hello = fromAll(clients, server, 'hello', T.ready)
    hello.catch(() => {}) // awaited below; this only keeps an early failure from being "unhandled"
    // 1. ready + warm-up
    const deadline = Date.now() + T.ready
    for (;;) {
      if (server.exitCode !== null || server.signalCode !== null) throw new Error(`the server exited at start: ${serverLog.slice(-5).join(' | ')}`)
      try {
        if ((await httpCall(port, 'GET', '/health')).status === 200) break
      } catch { /* not yet */ }
      if (Date.now() > deadline) throw new Error('the server did not answer /health in time')
      await sleep(100)
    }
    const pid = server.pid as number
    for (let i = 1; i <= WARMUP_POSTS; i++) {
      const answer = await httpCall(port, 'POST', '/api/config/servers', JSON.stringify({ name: `warmup-${i}`, ip: `10.255.0.${i}`, dnsAddress: '127.0.0.1' }))
      if (answer.status !== 201) throw new Error(`warm-up POST answered ${answer.status}: ${answer.text.slice(0, 200)}`)
    }
    const readyOn = impl === 'estatus' ? 'initial' : 'connected'
    await Promise.all(Array.from({ length: WARMUP_STREAMS }, () => warmStream(port, `"type":"${readyOn}"`)))
    await hello
    await sleep(1000)
    const rssBeforeKiB = rssKiB(pid) ?? NaN

    // 2. connect
    const ready = fromAll(clients, server, 'ready', T.connectBase + n * T.connectPerClient)
    const t0 = now()
    clients.forEach((client, k) => {
      const count = Math.floor(n / CLIENT_PROCS) + (k < n % CLIENT_PROCS ? 1 : 0)
      const command: ClientCommand = {
        cmd: 'connect',
        host: '127.0.0.1',
        port,
        count,
        localAddresses: Array.from({ length: SOURCES_PER_PROC }, (_, j) => `127.${10 + runIndex}.${k}.${j + 1}`),
        events: EVENTS,
        readyOn,
        concurrency: CONNECT_CONCURRENCY
      }
      client.send(command)
    })
    const readies = await ready
    const connectMs = Math.max(...readies.map(r => r.t)) - t0
    const connected = readies.reduce((sum, r) => sum + r.ready, 0)
    const failed = readies.reduce((sum, r) => sum + r.failed, 0)
    if (failed > 0) notes.push(`${fmtInt(failed)} streams failed to connect (${readies.find(r => r.firstError !== null)?.firstError ?? '?'})`)
    log(`  connected ${fmtInt(connected)}/${fmtInt(n)} in ${fmt(connectMs, 0)} ms`)

    // 3. idle RSS
    await sleep(IDLE_SETTLE_MS)
    const rssIdleKiB = rssKiB(pid) ?? NaN

    // 4. mutations
    const complete = fromAll(clients, server, 'complete', T.post * EVENTS)
    complete.catch(() => {})
    const sent = new Float64Array(EVENTS)
    const rtt = new Float64Array(EVENTS)
    const cpu0 = cpuMs(pid) ?? NaN
    const children0 = childrenCpu(pid)
    let next = now()
    for (let i = 0; i < EVENTS; i++) {
      const wait = next - now()
      if (wait > 0) await sleep(wait)
      const address = `10.1.${i >> 8}.${(i & 255) + 1}`
      const body = JSON.stringify({ name: `bench-${String(i).padStart(4, '0')}`, ip: address, dnsAddress: `127.${address.slice(3)}` })
      sent[i] = now()
      next = sent[i] as number + SPACING_MS
      const answer = await httpCall(port, 'POST', '/api/config/servers', body)
      rtt[i] = now() - (sent[i] as number)
      if (answer.status !== 201) throw new Error(`POST ${i} answered ${answer.status}: ${answer.text.slice(0, 200)}`)
      const id = String((JSON.parse(answer.text) as { data: { id: string } }).data.id)
      const removed = await httpCall(port, 'DELETE', `/api/config/servers/${encodeURIComponent(id)}`)
      if (removed.status !== 200) throw new Error(`DELETE ${i} answered ${removed.status}: ${removed.text.slice(0, 200)}`)
      if (now() - (sent[0] as number) > T.mutations) throw new Error(`the ${EVENTS} mutations took longer than ${T.mutations / 1000} s`)
    }
    const lastAnswer = now()
    try {
      await Promise.race([complete, sleep(T.deliver).then(() => { throw new Error('timeout') })])
    } catch (err) {
      if ((err as Error).message !== 'timeout') throw err
      notes.push(`not every client got every event ${T.deliver / 1000} s after the last POST`)
    }
    const cpu1 = cpuMs(pid) ?? NaN
    const childCpuS = childrenCpuBetween(children0, childrenCpu(pid)) / 1000
    const deliverWaitMs = now() - lastAnswer

    // 5. collect
    const statsPromise = fromAll(clients, server, 'stats', T.finish)
    const files = clients.map((client, k) => {
      const file = join(dir, `recv-${k}.bin`)
      client.send({ cmd: 'finish', file } satisfies ClientCommand)
      return file
    })
    const stats = (await statsPromise).map(m => m.stats)
    const sum = (key: keyof ClientStats): number => stats.reduce((acc, s) => acc + (s[key] as number), 0)
    const latencies = new Float64Array(n * EVENTS)
    const first = new Float64Array(EVENTS).fill(Infinity)
    const last = new Float64Array(EVENTS).fill(-Infinity)
    let delivered = 0
    for (const file of files) {
      const buf = readFileSync(file)
      const recv = new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8)
      for (let k = 0; k < recv.length; k++) {
        const t = recv[k] as number
        if (Number.isNaN(t)) continue
        const e = k % EVENTS
        const latency = t - (sent[e] as number)
        latencies[delivered++] = latency
        if (latency < (first[e] as number)) first[e] = latency
        if (latency > (last[e] as number)) last[e] = latency
      }
    }
    const spread = first.map((f, e) => (last[e] as number) - f).sort()
    const sorted = latencies.subarray(0, delivered).sort()
    const rttSorted = rtt.slice().sort()
    if (sum('closedEarly') > 0) notes.push(`${fmtInt(sum('closedEarly'))} streams closed by the server during the run`)
    if (sum('unknown') > 0) notes.push(`${fmtInt(sum('unknown'))} serverAdded frames matched no request`)
    if (sum('other') > 0) notes.push(`${fmtInt(sum('other'))} other data frames (ignored)`)
    const warnings = serverLog.filter(line => line.includes('"level":40') || line.includes('"level":50') || line.includes('"level":60'))
    if (warnings.length > 0) notes.push(`server logged ${warnings.length} warning/error lines, first: ${warnings[0]?.slice(0, 200)}`)
    log(`  ${EVENTS} create+delete pairs done, all delivered ${fmt(deliverWaitMs, 0)} ms after the last answer; delivered ${fmtInt(delivered)}/${fmtInt(n * EVENTS)}`)

    return {
      impl,
      n,
      connectMs,
      connected,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      max: delivered === 0 ? NaN : sorted[delivered - 1] as number,
      postP50: percentile(rttSorted, 0.5),
      firstP50: percentile(first.slice().sort(), 0.5),
      spreadP50: percentile(spread, 0.5),
      delivered,
      expected: n * EVENTS,
      duplicates: sum('duplicates'),
      cpuS: (cpu1 - cpu0) / 1000,
      childCpuS,
      rssBeforeKiB,
      rssIdleKiB,
      rssPerClientKiB: (rssIdleKiB - rssBeforeKiB) / n,
      dataLineBytes: Math.max(...stats.map(st => st.dataLineBytes)),
      notes
    }
  } catch (err) {
    await sleep(200) // let a dying server's exit be seen
    const exited = server.exitCode ?? server.signalCode
    if (exited !== null) (err as Error).message += ` (the server process exited: ${exited}${serverLog.length > 0 ? '; last log: ' + serverLog.slice(-3).join(' | ').slice(0, 300) : ''})`
    throw err
  } finally {
    await Promise.all([stop(server), ...clients.map(stop)])
    rmSync(dir, { recursive: true, force: true })
    tempDirs.delete(dir)
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
    cleanup()
    process.exit(1)
  }, WATCHDOG_MS)
  watchdog.unref()

  console.log(`SSE fan-out bench: ${EVENTS} create+delete pairs of /api/config/servers (one change at a time, pairs >= ${SPACING_MS} ms apart) with N clients on /api/events, the monitor running`)
  console.log(`node ${process.version}, ${cpus().length} cores, ${CLIENT_PROCS} client processes (raw HTTP/1.1), fd limit ${fmtInt(fdLimit.limit)}, clock CLOCK_MONOTONIC`)
  let runIndex = 0
  for (const n of sizes) {
    for (const impl of impls) {
      const index = runIndex++
      if (n + 500 > fdLimit.limit) {
        skipped.push(`${impl} N=${fmtInt(n)}: needs ~${fmtInt(n + 500)} fds in the server process, limit ${fmtInt(fdLimit.limit)}`)
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
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(row => (row[i] as string).length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === 1 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)).join(' | ')
  console.log('\nResults (latency = POST sent -> frame received, over all client x event pairs; CPU = user+sys over the mutation phase: the server, its children (fping), both)')
  console.log(line(head))
  console.log(widths.map(w => '-'.repeat(w)).join('-+-'))
  for (const row of rows) console.log(line(row))
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
  cleanup()
  process.exit(code)
}, err => {
  console.error(err)
  cleanup()
  process.exit(1)
})
