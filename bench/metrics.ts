// Metrics and auth benchmark.
//
//   npm run bench:metrics
//
// 1. GET /metrics with 5,000 servers probed by fping (loopback addresses 127.1.x.y, every
//    2 s, so they are online with a reply time): scrape time p50/p99 over SCRAPES scrapes, and
//    the event-loop delay of the server process while they run (perf_hooks histogram,
//    resolution 1 ms). Reference, side by side: GET /api/servers over the same 5,000 servers
//    (the dashboard's own read). Client and server share the process (one event loop), so
//    the delay includes the client's own work for both columns alike.
// 2. GET /api/servers/stats/summary throughput, 32 connections for DURATION_MS each: auth
//    `off` (no token), `writes` with a token existing (reads stay open: the guard only looks
//    at the route), and `all` with a read token (every request hashes and compares it).
// Targets: scrape p99 < 250 ms and event-loop delay max < 250 ms at 5,000 servers; `writes`
// within 10 % of `off`.
import Fastify, { type FastifyInstance } from 'fastify'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Pool, request } from 'undici'
import estatus, { type EstatusOptions } from '../app.ts'
import { createTokenStore } from '../lib/access-tokens.ts'

const SERVERS = 5000
const SCRAPES = Number(process.env.BENCH_METRICS_SCRAPES ?? 100)
const DURATION_MS = Number(process.env.BENCH_METRICS_DURATION_MS ?? 5000)
const CONNECTIONS = 32

const dir = await mkdtemp(join(tmpdir(), 'estatus-bench-metrics-'))
const apps: FastifyInstance[] = []

async function start (name: string, options: EstatusOptions, servers: number): Promise<string> {
  const folder = join(dir, name)
  const dataFile = join(folder, 'estatus.json')
  const document = {
    version: 1,
    nextServerId: servers + 1,
    nextGroupId: 2,
    servers: Array.from({ length: servers }, (_, i) => ({
      id: `server-${String(i + 1).padStart(3, '0')}`,
      name: `host-${i + 1}`,
      ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`,
      dnsAddress: `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`
    })),
    groups: [{ id: 'group-1', name: 'All', order: 1, serverIds: Array.from({ length: servers }, (_, i) => `server-${String(i + 1).padStart(3, '0')}`), rowNumber: 1, rowOrder: 1 }]
  }
  await import('node:fs/promises').then(fs => fs.mkdir(folder, { recursive: true }))
  await writeFile(dataFile, JSON.stringify(document))
  const app = Fastify({ logger: false })
  await app.register(estatus, { dataFile, ...options })
  await app.listen({ port: 0, host: '127.0.0.1' })
  apps.push(app)
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
const ms = (value: number) => value.toFixed(1).padStart(8)

async function timed (url: string, path: string): Promise<{ p50: number, p99: number, max: number, loopP99: number, loopMax: number, bytes: number }> {
  const times: number[] = []
  let bytes = 0
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  for (let i = 0; i < SCRAPES; i++) {
    const started = performance.now()
    const answer = await request(url + path)
    bytes = (await answer.body.text()).length
    times.push(performance.now() - started)
  }
  loop.disable()
  times.sort((a, b) => a - b)
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), max: times.at(-1)!, loopP99: loop.percentile(99) / 1e6, loopMax: loop.max / 1e6, bytes }
}

async function throughput (url: string, headers: Record<string, string>): Promise<number> {
  const pool = new Pool(url, { connections: CONNECTIONS })
  const deadline = Date.now() + DURATION_MS
  let done = 0
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (Date.now() < deadline) {
      const answer = await pool.request({ method: 'GET', path: '/api/servers/stats/summary', headers })
      await answer.body.text()
      if (answer.statusCode !== 200) throw new Error(`answered ${answer.statusCode}`)
      done++
    }
  }))
  await pool.close()
  return done / (DURATION_MS / 1000)
}

try {
  // ---- 1. scrape -------------------------------------------------------------------------
  const url = await start('scrape', { pingIntervalMs: 2000, threshold: 1 }, SERVERS)
  const deadline = Date.now() + 60000
  let online = 0
  while (Date.now() < deadline) {
    const summary = await (await request(url + '/api/servers/stats/summary')).body.json() as { data: { online: number } }
    online = summary.data.online
    if (online >= SERVERS * 0.95) break
    await new Promise(resolve => setTimeout(resolve, 500))
  }
  console.log(`${SERVERS} servers, ${online} online; ${SCRAPES} sequential requests each`)
  const scrape = await timed(url, '/metrics')
  const reference = await timed(url, '/api/servers')
  console.log('                          p50 ms   p99 ms   max ms  loop p99  loop max    bytes')
  for (const [name, r] of [['GET /metrics', scrape], ['GET /api/servers (ref)', reference]] as const) {
    console.log(`${name.padEnd(24)}${ms(r.p50)} ${ms(r.p99)} ${ms(r.max)} ${ms(r.loopP99)}  ${ms(r.loopMax)} ${String(r.bytes).padStart(8)}`)
  }
  await apps.pop()!.close()

  // ---- 2. auth on vs off -------------------------------------------------------------------
  const quiet = { pingIntervalMs: 3600000, diskIntervalMs: 86400000 }
  const offUrl = await start('off', { ...quiet, auth: 'off' }, 10)
  const tokens = await createTokenStore({ file: join(dir, 'tokens.json') })
  const read = (await tokens.create({ name: 'bench', role: 'read' })).token
  tokens.close()
  const writesUrl = await start('writes', { ...quiet, auth: 'writes', tokensFile: join(dir, 'tokens.json') }, 10)
  const allUrl = await start('all', { ...quiet, auth: 'all', tokensFile: join(dir, 'tokens.json') }, 10)
  console.log(`\nGET /api/servers/stats/summary, ${CONNECTIONS} connections, ${DURATION_MS / 1000} s each`)
  const results: Array<[string, number]> = []
  for (const [name, target, headers] of [
    ['auth off', offUrl, {}],
    ['auth writes (no token)', writesUrl, {}],
    ['auth all (read token)', allUrl, { authorization: `Bearer ${read}` }],
    ['auth off (again)', offUrl, {}]
  ] as const) {
    results.push([name, await throughput(target, headers)])
  }
  const base = (results[0]![1] + results[3]![1]) / 2
  for (const [name, rate] of results) console.log(`${name.padEnd(26)}${rate.toFixed(0).padStart(8)} req/s  ${((rate / base) * 100).toFixed(0).padStart(4)} % of off`)
} finally {
  for (const app of apps) await app.close()
  await rm(dir, { recursive: true, force: true })
}
