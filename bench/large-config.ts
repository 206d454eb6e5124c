// Large-configuration benchmark (issue 8, defect 8): the per-request cost with 10,000 and
// 50,000 servers stored.
//
//   npm run bench:large
//   BENCH_LARGE_SIZES=10000 npm run bench:large        # one size only
//   BENCH_LARGE_POSTS=10 BENCH_LARGE_CLIENTS=3 BENCH_LARGE_HEALTH=50 npm run bench:large   # fewer samples
//
// Servers, each in its own child process (this file, forked), so the load generator never
// shares an event loop with the server it measures:
//   ours       Fastify + the estatus plugin (logger silent, probing off: fping path missing,
//              intervals at their maximum), started on a hand-written data file.
//   reference  node:http holding the same document the way a first version would: `/health`
//              counts the statuses, a POST appends and writes the whole document (temp file +
//              fsync + rename, JSON.stringify(doc, null, 2)), a new event client gets
//              JSON.stringify of every status. No validation, no events, no ETags.
// Per size and server: HEALTH sequential `GET /health`, POSTS sequential creates, CLIENTS
// new `/api/events` clients one after another (time from connect to the whole `initial`
// frame), and a few `GET /api/config/servers`. p50/p99 of each. Then the store alone, in
// this process: its start and POSTS creates without HTTP and without the monitor.
// Targets at 50,000: /health p99 ≤ 10 ms, POST p99 ≤ 50 ms, initial p99 ≤ 1 s.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, get, type IncomingMessage, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { reportPort, sendJson, serveOurs, startChild, stopChild, writeDocumentAtomically } from '../test/support/reference-server.ts'

const SIZES = (process.env.BENCH_LARGE_SIZES ?? '10000,50000').split(',').map(Number)
const HEALTH = Number(process.env.BENCH_LARGE_HEALTH ?? 200)
const POSTS = Number(process.env.BENCH_LARGE_POSTS ?? 100)
const CLIENTS = Number(process.env.BENCH_LARGE_CLIENTS ?? 10)
const CONFIG_GETS = 5
const SELF = fileURLToPath(import.meta.url)

interface Server { id: string, name: string, ip: string, dnsAddress: string, snmp?: { enabled: boolean, community: string, disks: Array<{ index: number, name: string }> } }
interface Document { version: 1, nextServerId: number, nextGroupId: number, servers: Server[], groups: Array<{ id: string, name: string, order: number, serverIds: string[], rowNumber: number, rowOrder: number }> }

const ip = (prefix: string, i: number) => `${prefix}.${(i >> 8) & 255}.${i & 255}`

function makeServer (i: number): Omit<Server, 'id'> {
  const server: Omit<Server, 'id'> = { name: `srv-${i}`, ip: ip('10.20', i), dnsAddress: ip('127.1', i) }
  if (i % 4 === 0) server.snmp = { enabled: true, community: `community-${i}`, disks: [{ index: 31, name: 'root' }, { index: 36, name: 'data' }] }
  return server
}

function seedDocument (size: number): Document {
  const servers = Array.from({ length: size }, (_, k) => ({ id: `server-${String(k + 1).padStart(3, '0')}`, ...makeServer(k + 1) }))
  const perGroup = Math.ceil(size / 100)
  const groups = Array.from({ length: 100 }, (_, g) => ({
    id: `group-${g + 1}`,
    name: `Group ${g + 1}`,
    order: g + 1,
    serverIds: servers.slice(g * perGroup, (g + 1) * perGroup).map(server => server.id),
    rowNumber: Math.floor(g / 2) + 1,
    rowOrder: (g % 2) + 1
  }))
  return { version: 1, nextServerId: size + 1, nextGroupId: 101, servers, groups }
}

// ---- child: the reference -------------------------------------------------------------

async function serveReference (dataFile: string) {
  const doc = JSON.parse(await readFile(dataFile, 'utf8')) as Document
  const status = (server: Server) => ({ id: server.id, name: server.name, ip: server.ip, isOnline: false, consecutiveSuccesses: 0, consecutiveFailures: 0, lastChecked: null, lastStatusChange: new Date().toISOString(), diskInfo: null, lastError: 'fping is not installed' })

  let chain: Promise<void> = Promise.resolve()
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', chunk => chunks.push(chunk))
    req.on('end', () => {
      if (req.url === '/health') {
        const statuses = doc.servers.map(status)
        sendJson(res, 200, { status: 'ok', timestamp: new Date().toISOString(), uptime: 1, serverCount: statuses.length, onlineCount: statuses.filter(s => s.isOnline).length })
      } else if (req.url === '/api/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.write(`data: ${JSON.stringify({ type: 'initial', servers: doc.servers.map(status), groups: doc.groups })}\n\n`)
      } else if (req.url === '/api/config/servers' && req.method === 'GET') {
        sendJson(res, 200, { success: true, data: doc.servers })
      } else if (req.url === '/api/config/servers' && req.method === 'POST') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Server
        chain = chain.then(async () => {
          const created = { ...body, id: `server-${String(doc.nextServerId++).padStart(3, '0')}` }
          doc.servers.push(created)
          await writeDocumentAtomically(dataFile, doc)
          sendJson(res, 201, { success: true, data: created })
        })
      } else {
        sendJson(res, 404, { success: false, error: 'Route not found' })
      }
    })
  })
  server.listen(0, '127.0.0.1', () => reportPort(server.address()))
  process.on('SIGTERM', () => { void chain.then(() => process.exit(0)) })
}

// ---- the load -------------------------------------------------------------------------

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))] ?? NaN

/** Connects a new event client and resolves with the time until its `initial` frame is complete, and its size. */
function initialFrame (port: number): Promise<{ ms: number, bytes: number }> {
  const began = performance.now()
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path: '/api/events', headers: { accept: 'text/event-stream' } }, response => {
      // Only the newly arrived text is searched (with a little overlap): the frame is megabytes.
      const marker = 'data: {"type":"initial"'
      let carry = ''
      let inFrame = false
      let bytes = 0
      let done = false
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        let text = carry + chunk
        if (!inFrame) {
          const start = text.indexOf(marker)
          if (start === -1) { carry = text.slice(-marker.length); return }
          inFrame = true
          text = text.slice(start)
          bytes = -chunk.length + text.length
        }
        bytes += chunk.length
        if (!text.includes('\n\n')) { carry = text.slice(-1); return }
        const ms = performance.now() - began
        done = true
        request.destroy()
        resolve({ ms, bytes })
      })
      // A stream the server ends before the frame is whole (a slow client cut off) is a failure, not a hang.
      response.on('close', () => { if (!done) reject(new Error(`the event stream closed after ${bytes} bytes, before the initial frame was complete`)) })
    })
    request.on('error', reject)
  })
}

interface Figures { p50: number, p99: number }
type Result = Record<'start' | 'health' | 'post' | 'initial' | 'configList', Figures> & { initialBytes: number }

async function timed (count: number, one: (n: number) => Promise<number>): Promise<Figures> {
  const samples: number[] = []
  for (let n = 0; n < count; n++) samples.push(await one(n))
  samples.sort((a, b) => a - b)
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) }
}

async function measure (mode: 'ours' | 'reference', dir: string, size: number, seedText: string): Promise<Result> {
  const dataFile = join(dir, `${mode}-${size}`, 'estatus.json')
  await mkdir(join(dataFile, '..'), { recursive: true })
  await writeFile(dataFile, seedText)
  const { child, port, startMs } = await startChild(SELF, mode, dataFile, 120_000)
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1 })
  const request = async (method: 'GET' | 'POST', path: string, body?: string) => {
    const began = performance.now()
    const answer = await pool.request({ method, path, headers: body ? { 'content-type': 'application/json' } : {}, body })
    const text = await answer.body.text()
    if (answer.statusCode >= 300) throw new Error(`${mode}: ${method} ${path} answered ${answer.statusCode}: ${text.slice(0, 200)}`)
    return performance.now() - began
  }
  try {
    await timed(20, () => request('GET', '/health')) // warm-up
    const health = await timed(HEALTH, () => request('GET', '/health'))
    const post = await timed(POSTS, n => request('POST', '/api/config/servers', JSON.stringify({ ...makeServer(size + n + 1), name: `new-${n}` })))
    let initialBytes = 0
    const initial = await timed(CLIENTS, async () => { const frame = await initialFrame(port); initialBytes = frame.bytes; return frame.ms })
    const configList = await timed(CONFIG_GETS, () => request('GET', '/api/config/servers'))
    return { start: { p50: startMs, p99: startMs }, health, post, initial, configList, initialBytes }
  } finally {
    await pool.destroy().catch(() => {})
    await stopChild(child, 20_000)
  }
}

/**
 * The store alone (no HTTP, no monitor): creates through `createConfigStore` on the same
 * file, so the store's share of a POST is seen apart from what the monitor does per change.
 */
async function measureStore (dir: string, size: number, seedText: string): Promise<{ start: number, create: Figures }> {
  const { createConfigStore } = await import('../lib/config-store.ts')
  const { default: Fastify } = await import('fastify')
  const quiet = Fastify({ logger: { level: 'silent' } })
  const file = join(dir, `store-${size}`, 'estatus.json')
  await mkdir(join(file, '..'), { recursive: true })
  await writeFile(file, seedText)
  const began = performance.now()
  const store = await createConfigStore({ file, log: quiet.log, watchFile: true })
  const start = performance.now() - began
  const create = await timed(POSTS, async n => {
    const t0 = performance.now()
    await store.createServer({ ...makeServer(size + n + 1), name: `new-${n}` })
    return performance.now() - t0
  })
  await store.close()
  await quiet.close()
  return { start, create }
}

async function main () {
  const dir = await mkdtemp(join(tmpdir(), 'estatus-bench-large-'))
  const cleanup = () => rm(dir, { recursive: true, force: true })
  process.once('SIGINT', () => { void cleanup().then(() => process.exit(130)) })
  const ms = (value: number) => value >= 100 ? value.toFixed(0) : value.toFixed(1)
  const cell = (figures: Figures) => `${ms(figures.p50)} / ${ms(figures.p99)}`.padStart(16)
  try {
    console.log(`large-configuration benchmark: ${HEALTH} /health, ${POSTS} POSTs, ${CLIENTS} new event clients, ${CONFIG_GETS} config lists per run, one at a time; node ${process.version}`)
    console.log('p50 / p99 in ms (start: one sample)')
    console.log(`${'servers'.padEnd(8)} ${'server'.padEnd(10)} ${'start'.padStart(16)} ${'/health'.padStart(16)} ${'POST'.padStart(16)} ${'initial'.padStart(16)} ${'initial size'.padStart(13)} ${'config list'.padStart(16)}`)
    for (const size of SIZES) {
      const seedText = JSON.stringify(seedDocument(size), null, 2) + '\n'
      for (const mode of ['reference', 'ours'] as const) {
        const result = await measure(mode, dir, size, seedText)
        console.log(`${String(size).padEnd(8)} ${mode.padEnd(10)} ${cell(result.start)} ${cell(result.health)} ${cell(result.post)} ${cell(result.initial)} ${`${(result.initialBytes / 1048576).toFixed(1)} MiB`.padStart(13)} ${cell(result.configList)}`)
      }
      const store = await measureStore(dir, size, seedText)
      console.log(`${String(size).padEnd(8)} ${'store only'.padEnd(10)} ${cell({ p50: store.start, p99: store.start })} ${''.padStart(16)} ${cell(store.create)}   (createConfigStore + createServer, in process)`)
      console.log(`${''.padEnd(8)} ${'targets'.padEnd(10)} ${''.padStart(16)} ${'≤ 10 (p99)'.padStart(16)} ${'≤ 50 (p99)'.padStart(16)} ${'≤ 1000 (p99)'.padStart(16)}   (binding at 50,000)`)
    }
  } finally {
    await cleanup()
  }
}

const mode = process.argv[2]
// pluginTimeout 0: a slow start is measured, not cut off by avvio's 10 s plugin timeout.
if (mode === '--serve-ours') await serveOurs(process.argv[3]!, 0)
else if (mode === '--serve-reference') await serveReference(process.argv[3]!)
else await main()
