// Hostile-body benchmark (issue 8): what hostile JSON bodies cost the server while they
// arrive — event-loop delay, /health latency, answer sizes, RSS.
//
//   npm run bench:hostile
//   BENCH_HOSTILE_COUNT=100 HOSTILE_SEED=3 npm run bench:hostile
//
// Each server runs in its own child process (this file, forked) and measures itself with
// perf_hooks.monitorEventLoopDelay between a `reset` and a `read` from this process, which
// only sends load, so the client never shares an event loop with what it measures:
//   ours       Fastify + the estatus plugin (probing off), data file in a temp dir, one
//              server and one group stored.
//   reference  bare Fastify, its default JSON parser, every mutating route answering 400:
//              the cost of receiving and parsing the same bodies and nothing more.
// Scenarios, on each server:
//   fuzz       COUNT bodies of test/support/hostile.ts (seeded) over the mutating routes,
//              4 at a time, /health polled every 20 ms meanwhile.
//   disks      the body of issue 8 defect 2: a server with 200,000 invalid disks
//              (≈ 600 KB), once alone, then 4 at once, /health polled meanwhile.
// Target: event-loop delay p99 ≤ 50 ms while the hostile bodies arrive. Status 0 = connection
// closed by the server before the answer.
import { fork, type ChildProcess } from 'node:child_process'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { request } from 'undici'
import { hostileBodies } from '../test/support/hostile.ts'

const COUNT = Math.max(20, Number(process.env.BENCH_HOSTILE_COUNT ?? 200))
const SEED = Number(process.env.HOSTILE_SEED ?? 8)
const SCENARIO_DEADLINE_MS = 90_000
const SELF = fileURLToPath(import.meta.url)
const JSON_TYPE = { 'content-type': 'application/json' }

interface Measured { eldP50: number, eldP99: number, eldMax: number, rssPeakMb: number }

// ---- the server side -------------------------------------------------------------------

async function serve (mode: string, dir: string) {
  await mkdir(dir, { recursive: true })
  const app = Fastify({ logger: { level: 'silent' } })
  if (mode === 'ours') {
    const { default: estatus } = await import('../app.ts')
    await app.register(estatus, { dataFile: join(dir, 'estatus.json'), fpingPath: join(dir, 'no-fping'), pingIntervalMs: 3_600_000, diskIntervalMs: 86_400_000, watchDataFile: false })
  } else {
    app.route({ method: ['POST', 'PUT', 'DELETE'], url: '/api/*', handler: (_request, reply) => reply.code(400).send({ success: false, error: 'refused' }) })
    app.get('/health', async () => ({ status: 'ok' }))
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  let rssPeak = 0
  setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage.rss()) }, 20).unref()
  process.on('message', (message: string) => {
    if (message === 'reset') {
      delay.reset()
      rssPeak = process.memoryUsage.rss()
      process.send!('ready')
    } else if (message === 'read') {
      const ms = (ns: number) => ns / 1e6
      process.send!({ eldP50: ms(delay.percentile(50)), eldP99: ms(delay.percentile(99)), eldMax: ms(delay.max), rssPeakMb: rssPeak / 1048576 } satisfies Measured)
    } else if (message === 'stop') {
      void app.close().then(() => process.exit(0))
    }
  })
  const address = app.server.address()
  process.send!({ port: typeof address === 'object' && address ? address.port : 0 })
}

// ---- the load side -----------------------------------------------------------------------

function ask<T> (child: ChildProcess, message: string): Promise<T> {
  return new Promise(resolve => { child.once('message', answer => resolve(answer as T)); child.send(message) })
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p / 100))]!
}

/** One request; a connection the server closed mid-body (after a 413, say) counts as status 0. */
async function send (base: string, method: string, path: string, body: string, headers: Record<string, string> = JSON_TYPE) {
  const started = performance.now()
  try {
    const response = await request(base + path, { method: method as 'POST', headers, body })
    const text = await response.body.text()
    return { status: response.statusCode, bytes: Buffer.byteLength(text), ms: performance.now() - started }
  } catch {
    return { status: 0, bytes: 0, ms: performance.now() - started }
  }
}

/** Polls /health every 20 ms until `done` settles; the latencies seen. */
async function pollHealth (base: string, done: Promise<unknown>): Promise<number[]> {
  const latencies: number[] = []
  let finished = false
  void done.finally(() => { finished = true })
  // eslint-disable-next-line no-unmodified-loop-condition -- set by the promise above while this loop awaits
  while (!finished) {
    latencies.push((await send(base, 'GET', '/health', '', {})).ms)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return latencies
}

interface Result { label: string, requests: number, wallMs: number, statuses: Record<string, number>, largestAnswer: number, requestP99: number, healthP99: number, healthMax: number, server: Measured }

async function measure (child: ChildProcess, base: string, label: string, bodies: Array<[string, string, string, Record<string, string>?]>, concurrency: number): Promise<Result> {
  await ask(child, 'reset')
  const started = performance.now()
  const answers: Array<Awaited<ReturnType<typeof send>>> = []
  let next = 0
  const deadline = Date.now() + SCENARIO_DEADLINE_MS
  const worker = async () => {
    while (next < bodies.length && Date.now() < deadline) {
      const [method, path, body, headers] = bodies[next++]!
      answers.push(await send(base, method, path, body, headers))
    }
  }
  const load = Promise.all(Array.from({ length: concurrency }, worker))
  const health = await pollHealth(base, load)
  await load
  const wallMs = performance.now() - started
  const server = await ask<Measured>(child, 'read')
  const statuses: Record<string, number> = {}
  for (const { status } of answers) statuses[status] = (statuses[status] ?? 0) + 1
  return {
    label,
    requests: answers.length,
    wallMs,
    statuses,
    largestAnswer: Math.max(...answers.map(answer => answer.bytes)),
    requestP99: percentile(answers.map(answer => answer.ms), 99),
    healthP99: percentile(health, 99),
    healthMax: Math.max(...health),
    server
  }
}

async function start (mode: string, dir: string): Promise<{ child: ChildProcess, base: string }> {
  const child = fork(SELF, [`--serve-${mode}`, dir], { execArgv: ['--import', 'tsx/esm'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const { port } = await new Promise<{ port: number }>((resolve, reject) => {
    child.once('message', message => resolve(message as { port: number }))
    child.once('exit', code => reject(new Error(`${mode} server exited with ${code}`)))
  })
  return { child, base: `http://127.0.0.1:${port}` }
}

async function run (mode: string, dir: string): Promise<Result[]> {
  const { child, base } = await start(mode, dir)
  try {
    // Seeded items, so PUT and DELETE meet real ids (the reference refuses these too).
    await send(base, 'POST', '/api/config/servers', JSON.stringify({ name: 'seed', ip: '10.0.0.1', dnsAddress: '127.0.0.2' }))
    await send(base, 'POST', '/api/config/groups', JSON.stringify({ name: 'Seed', serverIds: ['server-001'] }))
    const stale = { ...JSON_TYPE, 'if-match': '"stale"' }
    const routes: Array<[string, string, Record<string, string>]> = [
      ['POST', '/api/config/servers', JSON_TYPE], ['PUT', '/api/config/servers/server-001', JSON_TYPE], ['DELETE', '/api/config/servers/server-001', stale],
      ['POST', '/api/config/groups', JSON_TYPE], ['PUT', '/api/config/groups/group-1', JSON_TYPE], ['DELETE', '/api/config/groups/group-1', stale]
    ]
    const fuzz: Array<[string, string, string, Record<string, string>]> = []
    for (const { text } of hostileBodies(SEED)) {
      if (fuzz.length === COUNT) break
      const [method, path, headers] = routes[fuzz.length % routes.length]!
      fuzz.push([method, path, text, headers])
    }
    const disks = JSON.stringify({ name: 'x', ip: '10.0.0.1', dnsAddress: '127.0.0.2', snmp: { enabled: true, disks: Array(200000).fill({}) } })
    const post: [string, string, string] = ['POST', '/api/config/servers', disks]
    return [
      await measure(child, base, `${mode}: fuzz, ${COUNT} bodies, c=4`, fuzz, 4),
      await measure(child, base, `${mode}: 200,000 disks, 1 body`, [post], 1),
      await measure(child, base, `${mode}: 200,000 disks, 4 at once`, [post, post, post, post], 4)
    ]
  } finally {
    await new Promise(resolve => { child.once('exit', resolve); child.send('stop') })
  }
}

async function main () {
  const dir = await mkdtemp(join(tmpdir(), 'estatus-bench-hostile-'))
  try {
    console.log(`hostile bodies: seed ${SEED}, ${COUNT} fuzz bodies; event-loop delay measured inside each server (target p99 ≤ 50 ms)`)
    const results = [...await run('reference', join(dir, 'reference')), ...await run('ours', join(dir, 'ours'))]
    const f = (n: number) => n.toFixed(1).padStart(8)
    console.log(`${'run'.padEnd(36)} ${'reqs'.padStart(5)} ${'wall ms'.padStart(8)} ${'req p99'.padStart(8)} ${'largest B'.padStart(10)} ${'health p99'.padStart(10)} ${'health max'.padStart(10)} ${'ELD p50'.padStart(8)} ${'ELD p99'.padStart(8)} ${'ELD max'.padStart(8)} ${'RSS MB'.padStart(7)}  statuses`)
    for (const r of results) {
      console.log(`${r.label.padEnd(36)} ${String(r.requests).padStart(5)} ${f(r.wallMs)} ${f(r.requestP99)} ${String(r.largestAnswer).padStart(10)} ${f(r.healthP99).padStart(10)} ${f(r.healthMax).padStart(10)} ${f(r.server.eldP50)} ${f(r.server.eldP99)} ${f(r.server.eldMax)} ${r.server.rssPeakMb.toFixed(0).padStart(7)}  ${JSON.stringify(r.statuses)}`)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const serveMode = process.argv[2]?.match(/^--serve-(\w+)$/)?.[1]
if (serveMode) await serve(serveMode, process.argv[3]!)
else await main()
