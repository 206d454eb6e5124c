// Config mutation benchmark: sustained mutation rate and latency of the config API with
// 1,000 servers stored, against a reference that does the naive safe thing.
//
//   npm run bench:config
//   BENCH_CONFIG_MUTATIONS=1000 npm run bench:config      # shorter runs
//
// Servers, each in its own child process (this file, forked), so the load generator never
// shares an event loop with the server it measures:
//   ours       Fastify + the estatus plugin (logger silent, probing off: fping path missing,
//              intervals at their maximum), data file in a temp dir.
//   reference  node:http holding the same document, applying mutations strictly one at a
//              time, each followed by its own write of the whole document: temp file + fsync
//              + rename, JSON.stringify(doc, null, 2) like ours. No validation, no events.
// Runs: reference c=1, ours c=1, reference c=32, ours c=32 (back to back, so each pair sees
// the same machine). Each starts from a fresh copy of the same 1,000-server document and
// replays the same seeded sequence: WARMUP unmeasured mutations, then MUTATIONS measured
// ones, 90 % PUT (full body, new name and threshold) of an existing server, 10 % POST of a new
// one, from `c` concurrent loops over an undici Pool of `c` keep-alive connections.
// rate = measured mutations / wall time; latency = send → whole answer read.
// Targets: at c=32 our rate ≥ 2× the reference's; at c=1 our p99 ≤ 1.5× the reference's.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { prng } from '../test/support/prng.ts'
import { reportPort, sendJson, serveOurs, startChild, stopChild, writeDocumentAtomically } from '../test/support/reference-server.ts'

const SERVERS = 1000
const MUTATIONS = Math.max(100, Number(process.env.BENCH_CONFIG_MUTATIONS ?? 3000))
const WARMUP = 200
const CONCURRENCY = [1, 32] as const
/** A run (warm-up included) stops issuing mutations after this long, so the bench stays under 2 min. */
const RUN_DEADLINE_MS = 24_000
const SELF = fileURLToPath(import.meta.url)

// ---- the document ---------------------------------------------------------------------

interface Server {
  id: string
  name: string
  ip: string
  dnsAddress: string
  consecutiveFailures?: number
  snmp?: { enabled: boolean, community?: string, disks: Array<{ index: number, name?: string }> }
  netapp?: { enabled: boolean, apiType: 'rest' | 'zapi', username: string, password: string, luns: Array<{ name: string, path: string }>, verifyTls?: boolean }
}
interface Document { version: 1, nextServerId: number, nextGroupId: number, servers: Server[], groups: unknown[] }

const ip = (prefix: string, i: number) => `${prefix}.${(i >> 8) & 255}.${i & 255}`

function makeServer (i: number, id: string): Server {
  const server: Server = { id, name: `srv-${i}`, ip: ip('10.20', i), dnsAddress: ip('127.1', i) }
  if (i % 4 === 0) server.snmp = { enabled: true, community: `community-${i}`, disks: [{ index: 31, name: 'root' }, { index: 36, name: 'data' }] }
  if (i % 10 === 0) server.netapp = { enabled: true, apiType: 'rest', username: 'monitor', password: `pw-${i}`, luns: [{ name: `lun${i}`, path: `/vol/v${i}/lun${i}` }], verifyTls: false }
  return server
}

function seedDocument (): Document {
  const servers = Array.from({ length: SERVERS }, (_, k) => makeServer(k + 1, `server-${String(k + 1).padStart(3, '0')}`))
  const groups = Array.from({ length: 10 }, (_, g) => ({
    id: `group-${g + 1}`,
    name: `Group ${g + 1}`,
    order: g + 1,
    serverIds: servers.slice(g * 100, g * 100 + 100).map(server => server.id),
    rowNumber: Math.floor(g / 2) + 1,
    rowOrder: (g % 2) + 1
  }))
  return { version: 1, nextServerId: SERVERS + 1, nextGroupId: 11, servers, groups }
}

// ---- child: the reference -------------------------------------------------------------

async function serveReference (dataFile: string) {
  const doc = JSON.parse(await readFile(dataFile, 'utf8')) as Document
  const index = new Map(doc.servers.map((server, i) => [server.id, i]))

  // Strictly one mutation at a time: apply, write, answer; then the next.
  let chain: Promise<void> = Promise.resolve()
  const serialized = (res: ServerResponse, work: () => Promise<void>) => {
    chain = chain.then(work).catch(err => sendJson(res, 500, { success: false, error: (err as Error).message }))
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', chunk => chunks.push(chunk))
    req.on('end', () => {
      let body: Server
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { sendJson(res, 400, { success: false, error: 'Malformed JSON body' }); return }
      const match = /^\/api\/config\/servers(?:\/([^/?]+))?$/.exec(req.url ?? '')
      if (req.method === 'POST' && match && match[1] === undefined) {
        serialized(res, async () => {
          const id = `server-${String(doc.nextServerId).padStart(3, '0')}`
          doc.nextServerId++
          const created = { ...body, id }
          index.set(id, doc.servers.push(created) - 1)
          await writeDocumentAtomically(dataFile, doc)
          sendJson(res, 201, { success: true, data: created })
        })
      } else if (req.method === 'PUT' && match && match[1] !== undefined) {
        const id = decodeURIComponent(match[1])
        serialized(res, async () => {
          const at = index.get(id)
          if (at === undefined) { sendJson(res, 404, { success: false, error: `Server with ID '${id}' not found` }); return }
          const updated = { ...body, id }
          doc.servers[at] = updated
          await writeDocumentAtomically(dataFile, doc)
          sendJson(res, 200, { success: true, data: updated })
        })
      } else {
        sendJson(res, 404, { success: false, error: 'Route not found' })
      }
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => reportPort(server.address()))
  process.on('SIGTERM', () => { void chain.then(() => process.exit(0)) })
}

// ---- the load -------------------------------------------------------------------------

interface Mutation { method: 'POST' | 'PUT', path: string, body: string }

function mutations (count: number): Mutation[] {
  const random = prng(42) // the same mutation sequence for every run
  const list: Mutation[] = []
  for (let n = 0; n < count; n++) {
    if (random() < 0.1) {
      const i = SERVERS + n + 1
      const { id: _generated, ...body } = makeServer(i, '')
      list.push({ method: 'POST', path: '/api/config/servers', body: JSON.stringify({ ...body, name: `new-${n}` }) })
    } else {
      const i = 1 + Math.floor(random() * SERVERS)
      const server = makeServer(i, `server-${String(i).padStart(3, '0')}`)
      const body = { ...server, name: `srv-${i}-v${n}`, consecutiveFailures: 1 + (n % 10) }
      list.push({ method: 'PUT', path: `/api/config/servers/${server.id}`, body: JSON.stringify(body) })
    }
  }
  return list
}

interface RunResult { rate: number, p50: number, p99: number, done: number, failed: number, storedServers: number, seconds: number }

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))] ?? NaN

async function run (mode: 'ours' | 'reference', concurrency: number, dir: string, seedText: string, plan: Mutation[]): Promise<RunResult> {
  const dataFile = join(dir, `${mode}-c${concurrency}`, 'estatus.json')
  await rm(join(dataFile, '..'), { recursive: true, force: true })
  await mkdir(join(dataFile, '..'), { recursive: true })
  await writeFile(dataFile, seedText)
  const { child, port } = await startChild(SELF, mode, dataFile, 30_000)
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 })
  let failed = 0
  let firstFailure = ''

  async function one (mutation: Mutation): Promise<number> {
    const started = performance.now()
    const answer = await pool.request({ method: mutation.method, path: mutation.path, headers: { 'content-type': 'application/json' }, body: mutation.body })
    const text = await answer.body.text()
    const elapsed = performance.now() - started
    if (answer.statusCode >= 300) {
      failed++
      firstFailure ||= `${mutation.method} ${mutation.path}: ${answer.statusCode} ${text.slice(0, 200)}`
    }
    return elapsed
  }

  async function phase (list: Mutation[], deadline: number): Promise<{ latencies: number[], wallMs: number }> {
    const latencies: number[] = []
    let next = 0
    const began = performance.now()
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < list.length && performance.now() < deadline) {
        const mutation = list[next++]!
        latencies.push(await one(mutation))
      }
    }))
    return { latencies, wallMs: performance.now() - began }
  }

  try {
    const deadline = performance.now() + RUN_DEADLINE_MS
    await phase(plan.slice(0, WARMUP), deadline)
    const { latencies, wallMs } = await phase(plan.slice(WARMUP), deadline)
    await pool.close()
    await stopChild(child, 10_000)
    if (failed > 0) throw new Error(`${mode} c=${concurrency}: ${failed} mutations failed, first: ${firstFailure}`)
    const stored = JSON.parse(await readFile(dataFile, 'utf8')) as Document
    const sorted = latencies.sort((a, b) => a - b)
    return {
      rate: latencies.length / (wallMs / 1000),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      done: latencies.length,
      failed,
      storedServers: stored.servers.length,
      seconds: wallMs / 1000
    }
  } finally {
    await pool.destroy().catch(() => {})
    await stopChild(child, 10_000)
  }
}

async function main () {
  const started = performance.now()
  const dir = await mkdtemp(join(tmpdir(), 'estatus-bench-config-'))
  const cleanup = () => rm(dir, { recursive: true, force: true })
  process.once('SIGINT', () => { void cleanup().then(() => process.exit(130)) })
  try {
    const seed = seedDocument()
    const seedText = JSON.stringify(seed, null, 2) + '\n'
    const plan = mutations(WARMUP + MUTATIONS)
    const creates = plan.filter(mutation => mutation.method === 'POST').length
    console.log(`config mutation benchmark: ${SERVERS} servers stored (${(Buffer.byteLength(seedText) / 1024).toFixed(0)} KiB document), ` +
      `${MUTATIONS} measured mutations per run after ${WARMUP} warm-up (${plan.length - creates} PUT updates, ${creates} POST creates in all), ` +
      `node ${process.version}`)
    const results = new Map<string, RunResult>()
    // Both servers back to back at each concurrency, so they see the same machine conditions.
    for (const c of CONCURRENCY) {
      for (const mode of ['reference', 'ours'] as const) {
        const result = await run(mode, c, dir, seedText, plan)
        results.set(`${mode}-${c}`, result)
        const expected = SERVERS + plan.slice(0, WARMUP + result.done).filter(mutation => mutation.method === 'POST').length
        if (result.storedServers !== expected) throw new Error(`${mode} c=${c}: the file holds ${result.storedServers} servers, expected ${expected}`)
        if (result.done < MUTATIONS) console.log(`note: ${mode} c=${c} stopped at the ${RUN_DEADLINE_MS / 1000} s deadline after ${result.done} mutations`)
      }
    }

    const get = (mode: string, c: number) => results.get(`${mode}-${c}`)!
    const cell = (r: RunResult) => `${r.rate.toFixed(0).padStart(8)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)}`
    console.log('')
    console.log(`${''.padEnd(28)}|${'c=1'.padStart(15).padEnd(27)}|${'c=32'.padStart(15).padEnd(27)}`)
    console.log(`${'server'.padEnd(28)}|${'mut/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} |${'mut/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`)
    console.log(`${'-'.repeat(28)}+${'-'.repeat(27)}+${'-'.repeat(27)}`)
    console.log(`${'fastify-estatus'.padEnd(28)}|${cell(get('ours', 1))}  |${cell(get('ours', 32))}`)
    console.log(`${'reference (serial, fsync)'.padEnd(28)}|${cell(get('reference', 1))}  |${cell(get('reference', 32))}`)
    console.log('')

    const ours32 = get('ours', 32).rate
    const ref32 = get('reference', 32).rate
    const rateOk = ours32 >= 2 * ref32
    console.log(`check c=32 rate: ours ${ours32.toFixed(0)}/s >= 2 x reference ${ref32.toFixed(0)}/s (= ${(2 * ref32).toFixed(0)}/s; ratio ${(ours32 / ref32).toFixed(2)}x): ${rateOk ? 'PASS' : 'FAIL'}`)
    const ours1 = get('ours', 1).p99
    const ref1 = get('reference', 1).p99
    const p99Ok = ours1 <= 1.5 * ref1
    console.log(`check c=1 p99:  ours ${ours1.toFixed(2)} ms <= 1.5 x reference ${ref1.toFixed(2)} ms (= ${(1.5 * ref1).toFixed(2)} ms; ratio ${(ours1 / ref1).toFixed(2)}x): ${p99Ok ? 'PASS' : 'FAIL'}`)
    console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`)
  } finally {
    await cleanup()
  }
}

const mode = process.argv[2]
if (mode === '--serve-ours') await serveOurs(process.argv[3]!)
else if (mode === '--serve-reference') await serveReference(process.argv[3]!)
else await main()
