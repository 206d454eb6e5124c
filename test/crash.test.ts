// SIGKILL while mutations are in flight (SPEC §3.1): the data file is always a whole JSON
// document, and every change that was acknowledged (2xx) before the kill survives: it is in
// the file or in the journal beside it, and the restart serves it and writes it into the file.
//
// The real standalone server (server.ts) runs as a child process; a stream of creates,
// updates and deletes is fired at it with 16 requests in flight, and the process is killed
// as soon as a random number (1–48) of them were answered, with the others still in flight.
// The file is checked, the server is restarted on it, and that restart is the next round's
// server; what it serves is compared with the model. Each round's work is a count, not a
// time, so a loaded machine makes the file slower, not different (its time follows fsync
// latency and the restarts: it gets 15 minutes).
//
// What is strictly guaranteed, and checked: an acknowledged change is never lost. A request
// that got no answer may or may not have been applied. Each server is written by a single
// worker that has one request in flight at a time, so for every server exactly one
// unanswered request can be pending: its stored value must be the last acknowledged one or
// that pending request's. A server the model does not know must be a pending create.
import t from 'tap'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { prng } from './support/prng.ts'
import type { Test } from './support/app.ts'
import { spawnServer, type ServerProcess } from './support/server-process.ts'

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 24)
const WORKERS = 16
const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000)
const TEMP_FILE = /^\.estatus\.json\.(\d+)\.[0-9a-f]+\.tmp$/

/** Seeded, so a failing run can be replayed with CRASH_SEED. */
const random = prng(SEED)

/** The answers after which a round's server is killed: 1 to this. */
const MOST_ANSWERS_BEFORE_KILL = 48

t.setTimeout(900_000)

/** Starts server.ts on `dataFile` and waits until it answers; the test's teardown kills it. */
async function startServer (t: Test, dataFile: string): Promise<ServerProcess> {
  return await spawnServer(t, {
    dataFile,
    env: {
      // No probing: this test is about the data file.
      ESTATUS_PING_INTERVAL_MS: '3600000',
      ESTATUS_DISK_INTERVAL_MS: '86400000',
      ESTATUS_FPING_PATH: '/nonexistent/fping'
    },
    readyPath: '/api/config/servers'
  })
}

/** Signals the server's process group (it leads its own), so any probe it started goes too. */
async function kill (child: ServerProcess, signal: NodeJS.Signals) {
  try { process.kill(-child.pid, signal) } catch { /* already gone */ }
  return child.exited
}

// ---- the model -------------------------------------------------------------------------

type Pending =
  | { op: 'create', name: string }
  | { op: 'update', id: string, name: string }
  | { op: 'delete', id: string }

interface Worker {
  /** id → name, as last acknowledged (or as read back from the file after a round). */
  owned: Map<string, string>
  /** The request that was sent and never answered, if any. */
  pending: Pending | null
  acknowledged: number
}

interface RoundResult { acknowledged: number, refused: string[] }

/**
 * Fires the stream until requests start failing, one request in flight per worker; calls
 * `kill` when the `killAfter`th answer arrived.
 */
async function stream (child: ServerProcess, workers: Worker[], round: number, killAfter: number, kill: () => void): Promise<RoundResult> {
  const agent = new Agent({ connections: WORKERS, pipelining: 1, keepAliveTimeout: 10000 })
  const refused: string[] = []
  let answered = 0
  let serial = 0
  async function send (method: string, path: string, body?: unknown) {
    const answer = await request(child.url + path, {
      dispatcher: agent,
      method: method as 'GET',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await answer.body.text()
    if (++answered === killAfter) kill()
    return { status: answer.statusCode, json: JSON.parse(text) as { data: { id: string, name: string } } }
  }

  await Promise.all(workers.map(async (worker, w) => {
    for (;;) {
      const ids = [...worker.owned.keys()]
      const dice = random()
      const name = `r${round}w${w}n${serial++}`
      let pending: Pending
      if (ids.length === 0 || dice < 0.3) pending = { op: 'create', name }
      else if (dice < 0.38 && ids.length > 2) pending = { op: 'delete', id: ids[Math.floor(random() * ids.length)]! }
      else pending = { op: 'update', id: ids[Math.floor(random() * ids.length)]!, name }
      worker.pending = pending
      try {
        if (pending.op === 'create') {
          const answer = await send('POST', '/api/config/servers', { name, ip: '10.9.8.7', dnsAddress: '127.0.0.2' })
          if (answer.status !== 201) { refused.push(`create ${answer.status}`); worker.pending = null; continue }
          worker.owned.set(answer.json.data.id, answer.json.data.name)
        } else if (pending.op === 'update') {
          const answer = await send('PUT', `/api/config/servers/${pending.id}`, { name, ip: '10.9.8.7', dnsAddress: '127.0.0.2' })
          if (answer.status !== 200) { refused.push(`update ${pending.id} ${answer.status}`); worker.pending = null; continue }
          worker.owned.set(pending.id, answer.json.data.name)
        } else {
          const answer = await send('DELETE', `/api/config/servers/${pending.id}`)
          if (answer.status !== 200) { refused.push(`delete ${pending.id} ${answer.status}`); worker.pending = null; continue }
          worker.owned.delete(pending.id)
        }
        worker.pending = null
        worker.acknowledged++
      } catch {
        // No answer: the process is gone. `pending` may or may not have been applied.
        return
      }
    }
  }))
  await agent.destroy().catch(() => {})
  return { acknowledged: workers.reduce((sum, worker) => sum + worker.acknowledged, 0), refused }
}

/**
 * Compares the file after a kill with the model; returns the problems (empty when fine)
 * and re-bases the model on the file (the unanswered requests are settled one way or the other).
 */
function reconcile (document: { servers: Array<{ id: string, name: string }> }, workers: Worker[], baseline: Map<string, string>): string[] {
  const problems: string[] = []
  const inFile = new Map(document.servers.map(server => [server.id, server.name]))
  const explained = new Set<string>()
  for (const [w, worker] of workers.entries()) {
    const pending = worker.pending
    for (const [id, name] of worker.owned) {
      explained.add(id)
      const stored = inFile.get(id)
      if (pending?.op === 'update' && pending.id === id) {
        if (stored !== name && stored !== pending.name) problems.push(`worker ${w}: ${id} is ${JSON.stringify(stored)}, expected the acknowledged ${name} or the unanswered ${pending.name}`)
      } else if (pending?.op === 'delete' && pending.id === id) {
        if (stored !== undefined && stored !== name) problems.push(`worker ${w}: ${id} is ${JSON.stringify(stored)}, expected the acknowledged ${name} or deleted`)
      } else if (stored !== name) {
        problems.push(`worker ${w}: acknowledged ${id} = ${name} but the file has ${JSON.stringify(stored)}`)
      }
    }
    if (pending?.op === 'create') {
      const created = [...inFile].filter(([id, name]) => name === pending.name && !worker.owned.has(id))
      if (created.length > 1) problems.push(`worker ${w}: the unanswered create ${pending.name} is in the file ${created.length} times`)
      for (const [id] of created) explained.add(id)
    }
  }
  for (const id of baseline.keys()) explained.add(id)
  for (const [id, name] of inFile) {
    if (!explained.has(id)) problems.push(`${id} (${name}) is in the file but the model does not hold it (never created, or its delete was acknowledged)`)
  }
  // Deleted (acknowledged) servers of the model must be gone: the model no longer holds them,
  // so a survivor shows up above as never created unless it was in the baseline.
  for (const id of baseline.keys()) {
    const owner = workers.find(worker => worker.owned.has(id))
    const pendingDelete = workers.some(worker => worker.pending?.op === 'delete' && worker.pending.id === id)
    if (owner === undefined && !pendingDelete && inFile.has(id)) problems.push(`${id} was deleted (acknowledged) but is still in the file`)
  }

  // Re-base: each worker owns what the file now says about its servers.
  for (const worker of workers) {
    const pending = worker.pending
    if (pending?.op === 'create') {
      for (const [id, name] of inFile) if (name === pending.name) worker.owned.set(id, name)
    }
    for (const id of [...worker.owned.keys()]) {
      const stored = inFile.get(id)
      if (stored === undefined) worker.owned.delete(id)
      else worker.owned.set(id, stored)
    }
    worker.pending = null
    worker.acknowledged = 0
  }
  baseline.clear()
  for (const [id, name] of inFile) baseline.set(id, name)
  return problems
}

const tempFiles = async (dir: string) => (await readdir(dir)).filter(name => TEMP_FILE.test(name))

t.test(`SIGKILL during a stream of mutations loses no acknowledged change (${ROUNDS} rounds, seed ${SEED})`, async t => {
  const dir = await mkdtemp(join(tmpdir(), 'estatus-crash-'))
  const dataFile = join(dir, 'estatus.json')
  t.teardown(() => rm(dir, { recursive: true, force: true }))

  let child = await startServer(t, dataFile)
  const workers: Worker[] = Array.from({ length: WORKERS }, () => ({ owned: new Map(), pending: null, acknowledged: 0 }))
  // A few servers to update from the start.
  for (let i = 0; i < 32; i++) {
    const answer = await request(`${child.url}/api/config/servers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: `seed-${i}`, ip: '10.9.8.7', dnsAddress: '127.0.0.2' })
    })
    const { data } = await answer.body.json() as { data: { id: string, name: string } }
    workers[i % WORKERS]!.owned.set(data.id, data.name)
  }
  const baseline = new Map<string, string>()
  let totalAcknowledged = 0
  let leftovers = 0

  for (let round = 1; round <= ROUNDS; round++) {
    const killAfter = 1 + Math.floor(random() * MOST_ANSWERS_BEFORE_KILL)
    const victim = child
    const result = await stream(victim, workers, round, killAfter, () => { void kill(victim, 'SIGKILL') })
    const exit = await victim.exited
    t.equal(exit.signal, 'SIGKILL', `round ${round}: killed after ${killAfter} answers`)
    t.same(result.refused, [], `round ${round}: no acknowledged request was refused`)
    totalAcknowledged += result.acknowledged

    // The data file is a whole document at every instant (its rewrites are temp file + rename).
    try {
      JSON.parse(await readFile(dataFile, 'utf8'))
    } catch (err) {
      t.fail(`round ${round}: the data file is not JSON after the kill: ${(err as Error).message}`)
      break
    }

    // A kill can leave one temp file: the rewrite that was in flight (rewrites are serialized, so
    // never more than one). The next start removes it, so they do not pile up over crashes.
    const temps = await tempFiles(dir)
    t.ok(temps.length <= 1, `round ${round}: ${temps.length} leftover temp file(s) after the kill`)
    t.ok(temps.every(name => Number(TEMP_FILE.exec(name)![1]) === victim.pid), `round ${round}: the leftover is the killed process'`)
    leftovers += temps.length

    // Restart on the same file (and its journal), the next round's server. What it serves —
    // the file with the journal's writes replayed — holds every acknowledged change.
    child = await startServer(t, dataFile)
    t.same(await tempFiles(dir), [], `round ${round}: the restart removed the dead process' temp file`)
    const listed = await request(`${child.url}/api/config/servers`)
    const served = (await listed.body.json() as { data: Array<{ id: string, name: string }> }).data
    const problems = reconcile({ servers: served }, workers, baseline)
    t.same(problems, [], `round ${round}: ${result.acknowledged} acknowledged changes, all served after the restart`)
    // The start wrote the replayed changes into the data file itself.
    const inFile = (JSON.parse(await readFile(dataFile, 'utf8')) as { servers: Array<{ id: string, name: string }> }).servers
    t.same(new Map(inFile.map(server => [server.id, server.name])), baseline, `round ${round}: the data file holds what is served`)
  }
  t.ok(totalAcknowledged > ROUNDS, `${totalAcknowledged} acknowledged changes over ${ROUNDS} kills (${leftovers} of which left a temp file)`)

  // A graceful stop after all that leaves no temp file of its own.
  const before = await tempFiles(dir)
  const stopped = await kill(child, 'SIGTERM')
  t.equal(stopped.code, 0, 'SIGTERM: exit 0')
  t.same(await tempFiles(dir), before, 'a clean shutdown leaves no temp file')
  JSON.parse(await readFile(dataFile, 'utf8'))
})
