// Cluster benchmark (SPEC §12): event delivery across three nodes on one PostgreSQL, beside
// a single node, and the leader's failover.
//
//   npm run bench:cluster
//
// A throw-away PostgreSQL (test/support/postgres.ts), then, one after the other:
//   1. single: one server.ts without a database (the embedded default: data file, SQLite
//      history), 6,000 SSE clients;
//   2. cluster: three server.ts on one database, each with its own temp data dir, 2,000 SSE
//      clients each (6,000 in all);
//      both: HOST=127.0.0.1, LOG_LEVEL=warn, ESTATUS_HEARTBEAT_MS=3600000, the monitor running
//      (fping at 1 s), three client processes (bench/sse-client.ts, raw HTTP/1.1, 2,000
//      streams each, from 16 loopback source addresses each — against ephemeral-port
//      exhaustion), and the measurement of bench/sse.ts (bench/support/fan-out.ts): 3 warm-up
//      POSTs and 20 warm-up streams per node, then 200 create+delete pairs of
//      /api/config/servers, one change at a time, pairs >= 20 ms apart, pair i sent to node
//      i mod 3; latency = a client's receive time of the matching `serverAdded` frame − the
//      time the POST was sent, over all client × event pairs; delivery: every client every
//      event exactly once; order: each client hashes the ids of its serverAdded frames in
//      arrival order, one hash over all clients = one global order. CPU (user+sys, /proc)
//      over the mutation phase: the node processes, their children (the leader's fping), and
//      PostgreSQL (the postmaster and its backends).
//   3. failover, on the cluster's nodes once its clients are gone: three more loopback
//      servers; once all servers are online (and 1 s more, for their statuses to be saved),
//      10 times: the leader (`SELECT holder FROM
//      leader_lease WHERE expires_at > now()`, holder = host:pid:random) is SIGKILLed with its
//      process group (its fping), then measured from the kill:
//        lease — until another node holds an unexpired lease;
//        probe — until a surviving node answers `GET /api/servers/:id` (the first failover
//                server) with a `lastChecked` after the kill: only the leader's probe results
//                move it (a follower moves it on a statusChange only, and none is expected),
//                so this is the first probe result of the new leader, visible over the API;
//      then a replacement node is started (3 nodes again). At the end (after > 4 probe
//      intervals, the threshold) the event log is searched for statusChange events written
//      since the first kill: a failover must invent no flip.
// Polling: the lease and the API every 50 ms (test/support/wait.ts), so figures are +0-50 ms.
// Targets: failover <= 10 s (SPEC §12, max over the kills, both measures); cluster delivery
// 100 % exactly once in one order; p99 cluster / single: informational.
// Bounded: every phase has a timeout, the kills stop at 8.5 minutes, a watchdog stops
// everything at 9.5; children, PostgreSQL and temp dirs are always removed.
// Exit code: 0 unless the bench itself crashed (a child died unasked, a phase timed out);
// FAILed targets do not change it.
import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { startPostgres, type PostgresCluster } from '../test/support/postgres.ts'
import { childrenCpu, childrenCpuBetween, cpuMs, processes } from '../test/support/proc.ts'
import { sleep, waitFor } from '../test/support/wait.ts'
import { superviseChildren } from './support/children.ts'
import { FAN_OUT, collectDeliveries, completeWithin, connectStreams, createAndDelete, fromAll, now, percentile, startClients, streamNotes, type Deliveries } from './support/fan-out.ts'
import { fmt, fmtInt, printTable } from './support/format.ts'
import { httpData, warmStream } from './support/http.ts'
import { startEstatus, type BenchServer } from './support/servers.ts'

const NODES = 3
const CLIENTS_PER_PROC = 2000
const CLIENT_PROCS = 3
const { events: EVENTS, spacingMs: SPACING_MS, sourcesPerProcess: SOURCES_PER_PROC, connectConcurrency: CONNECT_CONCURRENCY, warmupPosts: WARMUP_POSTS, warmupStreams: WARMUP_STREAMS } = FAN_OUT
const KILLS = 10
const FAILOVER_SERVERS = 3
/** SPEC §12: another node takes over within 10 s. */
const FAILOVER_TARGET_MS = 10_000
/** After the last kill: longer than the threshold (4) × the probe interval (1 s), for an invented flip to show. */
const FLIP_SETTLE_MS = 6_000
const KILLS_UNTIL_MS = 8.5 * 60_000
const WATCHDOG_MS = 9.5 * 60_000
const T = { start: 60_000, hello: 30_000, connect: 120_000, mutations: 150_000, deliver: 30_000, finish: 30_000, online: 30_000, failover: 30_000 }

const children = superviseChildren()
const clients = CLIENT_PROCS * CLIENTS_PER_PROC

// ---- CPU of a set of processes over a phase ----------------------------------------------
interface CpuMark { own: number, children: ReturnType<typeof childrenCpu> }
const markCpu = (pids: number[]): CpuMark[] => pids.map(pid => ({ own: cpuMs(pid) ?? NaN, children: childrenCpu(pid) }))
/** Seconds since `before` (same pids, same order): the processes themselves, and their children. */
function cpuSince (before: CpuMark[], pids: number[]): { ownS: number, childrenS: number } {
  const after = markCpu(pids)
  return {
    ownS: after.reduce((sum, mark, i) => sum + mark.own - (before[i] as CpuMark).own, 0) / 1000,
    childrenS: after.reduce((sum, mark, i) => sum + childrenCpuBetween((before[i] as CpuMark).children, mark.children), 0) / 1000
  }
}

/** The postmaster of `cluster` (a child of this process, started on `<dir>/data`). */
function postmasterPid (cluster: PostgresCluster): number | undefined {
  const data = join(cluster.dir, 'data')
  return processes(entry => entry.ppid === process.pid && entry.argv.includes(data))[0]?.pid
}

// ---- 1 + 2: delivery -------------------------------------------------------------------
type Setup = 'single' | 'cluster'

interface DeliveryResult {
  setup: Setup
  nodes: number
  connectMs: number
  connected: number
  postP50: number
  deliveries: Deliveries
  expected: number
  nodeCpuS: number
  fpingCpuS: number
  /** NaN without a database. */
  postgresCpuS: number
  notes: string[]
}

async function startNodes (count: number, dir: string, url?: string): Promise<BenchServer[]> {
  return await Promise.all(Array.from({ length: count }, (_, i) => startEstatus(children, {
    dataFile: join(dir, `node-${i}`, 'estatus.json'),
    env: url === undefined ? {} : { ESTATUS_DATABASE_URL: url },
    timeoutMs: T.start
  })))
}

async function runDelivery (setup: Setup, nodes: BenchServer[], runIndex: number, dir: string, postgres: number | undefined, log: (line: string) => void): Promise<DeliveryResult> {
  const notes: string[] = []
  const servers = nodes.map(node => node.child)
  const ports = nodes.map(node => node.port)
  const procs = await startClients(children, CLIENT_PROCS, servers, T.hello)
  try {
    for (let i = 1; i <= WARMUP_POSTS; i++) {
      await httpData(ports[i % ports.length] as number, 'POST', '/api/config/servers', { name: `warmup-${i}`, ip: `10.255.0.${i}`, dnsAddress: '127.0.0.1' })
    }
    await Promise.all(ports.flatMap(port => Array.from({ length: WARMUP_STREAMS }, () => warmStream(port, '"type":"initial"', T.start))))
    await sleep(1000)

    const connection = await connectStreams(procs, servers, procs.map((_, k) => ({
      port: ports[k % ports.length] as number,
      count: CLIENTS_PER_PROC,
      localAddresses: Array.from({ length: SOURCES_PER_PROC }, (_, j) => `127.${10 + runIndex}.${k}.${j + 1}`)
    })), { events: EVENTS, readyOn: 'initial', concurrency: CONNECT_CONCURRENCY, timeoutMs: T.connect })
    if (connection.failed > 0) notes.push(`${fmtInt(connection.failed)} streams failed to connect (${connection.firstError ?? '?'})`)
    log(`  connected ${fmtInt(connection.connected)}/${fmtInt(clients)} in ${fmt(connection.connectMs, 0)} ms`)
    await sleep(2000)

    const complete = fromAll(procs, servers, 'complete', T.mutations + T.deliver)
    const pids = nodes.map(node => node.pid)
    const cpu0 = markCpu(pids)
    const pg0 = postgres === undefined ? [] : markCpu([postgres])
    const { sent, rtt } = await createAndDelete(ports, EVENTS, SPACING_MS, T.mutations)
    const lastAnswer = now()
    const completed = await completeWithin(complete, T.deliver)
    const cpu = cpuSince(cpu0, pids)
    const pgCpu = postgres === undefined ? null : cpuSince(pg0, [postgres])
    if (!completed) notes.push(`not every client got every event ${T.deliver / 1000} s after the last POST`)
    log(`  ${EVENTS} create+delete pairs sent; ${completed ? `all delivered ${fmt(now() - lastAnswer, 0)} ms after the last answer` : 'NOT all delivered'}`)

    const deliveries = await collectDeliveries(procs, servers, dir, sent, T.finish)
    notes.push(...streamNotes(deliveries))
    for (const [i, node] of nodes.entries()) {
      const warnings = node.warnings()
      if (warnings.length > 0) notes.push(`node ${i} logged ${warnings.length} warning/error lines, first: ${warnings[0]?.slice(0, 200)}`)
    }
    return {
      setup,
      nodes: nodes.length,
      connectMs: connection.connectMs,
      connected: connection.connected,
      postP50: percentile(rtt.slice().sort(), 0.5),
      deliveries,
      expected: clients * EVENTS,
      nodeCpuS: cpu.ownS,
      fpingCpuS: cpu.childrenS,
      postgresCpuS: pgCpu === null ? NaN : pgCpu.ownS + pgCpu.childrenS,
      notes
    }
  } finally {
    await Promise.all(procs.map(proc => children.stop(proc)))
  }
}

// ---- 3: failover -----------------------------------------------------------------------
interface Kill {
  /** Epoch ms. */
  killedAt: number
  killedPid: number
  newLeaderPid: number
  /** Kill → another node holds an unexpired lease (seen). */
  leaseMs: number
  /** Kill → a surviving node's API shows a probe result after the kill (seen). */
  probeMs: number
  /** Kill → that probe result's own time (`lastChecked`, the new leader's clock). */
  probedAtMs: number
  /** The replacement node: start → healthy. */
  replacementMs: number
}

interface FailoverResult {
  kills: Kill[]
  /** The statusChange events written since the first kill (none expected). */
  inventedFlips: StatusChange[]
  /** Leadership changes (lease terms) over the phase. */
  terms: number
  notes: string[]
}

interface Status { id: string, isOnline: boolean, lastChecked: string }
interface StatusChange { id: number, update: { name: string, isOnline: boolean, timestamp: string } }

const holderPid = (holder: string): number => Number(holder.split(':').at(-2))

/** The pid of the node holding an unexpired lease, or null. */
async function leaderPid (db: pg.Client): Promise<number | null> {
  const { rows } = await db.query<{ holder: string }>('SELECT holder FROM leader_lease WHERE expires_at > now()')
  return rows[0] === undefined ? null : holderPid(rows[0].holder)
}

async function runFailover (url: string, nodes: BenchServer[], dir: string, started: number, log: (line: string) => void): Promise<FailoverResult> {
  const notes: string[] = []
  const db = new pg.Client({ connectionString: url })
  await db.connect()
  try {
    const api = (nodes[0] as BenchServer).port
    const ids: string[] = []
    for (let k = 1; k <= FAILOVER_SERVERS; k++) {
      ids.push((await httpData<{ id: string }>(api, 'POST', '/api/config/servers', { name: `failover-${k}`, ip: `10.255.1.${k}`, dnsAddress: `127.0.0.${k + 1}` })).id)
    }
    const watched = ids[0] as string
    const leaderNode = async (): Promise<BenchServer | null> => {
      const pid = await leaderPid(db)
      return nodes.find(node => node.pid === pid) ?? null
    }
    const first = await waitFor(leaderNode, T.online, 'a leader')
    const online = await waitFor(async () => {
      const statuses = await httpData<Status[]>(first.port, 'GET', '/api/servers')
      return statuses.every(status => status.isOnline) ? statuses : null
    }, T.online, 'every server online on the leader')
    log(`  ${online.length} loopback servers online; killing the leader ${KILLS} times`)
    const { rows: [mark] } = await db.query<{ id: number, term: number }>('SELECT (SELECT coalesce(max(id), 0) FROM event_log)::float8 AS id, (SELECT term FROM leader_lease)::float8 AS term')

    const kills: Kill[] = []
    for (let round = 1; round <= KILLS; round++) {
      if (Date.now() - started > KILLS_UNTIL_MS) {
        notes.push(`stopped after ${kills.length} kills: the bench reached ${KILLS_UNTIL_MS / 60_000} minutes`)
        break
      }
      // The leader, probing: its own lastChecked is recent.
      const leader = await waitFor(async () => {
        const node = await leaderNode()
        if (node === null) return null
        const status = await httpData<Status>(node.port, 'GET', `/api/servers/${watched}`)
        return Date.now() - Date.parse(status.lastChecked) < 2500 ? node : null
      }, T.online, 'a probing leader')
      const survivors = nodes.filter(node => node !== leader)
      const killedAt = Date.now()
      const killed = children.kill(leader.child)
      nodes.splice(nodes.indexOf(leader), 1)
      const [lease, probe] = await Promise.all([
        waitFor(async () => {
          const pid = await leaderPid(db)
          return pid !== null && pid !== leader.pid ? { pid, at: Date.now() } : null
        }, T.failover, 'another leader'),
        waitFor(async () => {
          for (const node of survivors) {
            const { lastChecked } = await httpData<Status>(node.port, 'GET', `/api/servers/${watched}`)
            if (Date.parse(lastChecked) > killedAt) return { at: Date.now(), probedAt: Date.parse(lastChecked) }
          }
          return null
        }, T.failover, 'a probe result of the new leader')
      ])
      await killed
      const replacementStart = Date.now()
      nodes.push(...await startNodes(1, join(dir, `replacement-${round}`), url))
      const kill: Kill = {
        killedAt,
        killedPid: leader.pid,
        newLeaderPid: lease.pid,
        leaseMs: lease.at - killedAt,
        probeMs: probe.at - killedAt,
        probedAtMs: probe.probedAt - killedAt,
        replacementMs: Date.now() - replacementStart
      }
      kills.push(kill)
      log(`  kill ${round}: pid ${kill.killedPid} -> ${kill.newLeaderPid}: lease ${fmt(kill.leaseMs / 1000, 2)} s, first probe seen ${fmt(kill.probeMs / 1000, 2)} s (probed at ${fmt(kill.probedAtMs / 1000, 2)} s); replacement healthy in ${fmt(kill.replacementMs / 1000, 1)} s`)
    }

    await sleep(FLIP_SETTLE_MS)
    const { rows: flips } = await db.query<{ id: number, payload: string }>(
      "SELECT id::float8 AS id, payload FROM event_log WHERE kind = 'event' AND id > $1 AND payload LIKE $2 ORDER BY id", [mark?.id ?? 0, '{"type":"statusChange"%'])
    const { rows: [lease] } = await db.query<{ term: number }>('SELECT term::float8 AS term FROM leader_lease')
    return {
      kills,
      inventedFlips: flips.map(row => ({ id: row.id, ...JSON.parse(row.payload) as Omit<StatusChange, 'id'> })),
      terms: (lease?.term ?? NaN) - (mark?.term ?? NaN),
      notes
    }
  } finally {
    await db.end()
  }
}

// ---- main ------------------------------------------------------------------------------
async function main (): Promise<number> {
  const deliveries: DeliveryResult[] = []
  let failover: FailoverResult | null = null
  const errors: string[] = []
  const log = (line: string): void => { console.log(line) }
  const started = Date.now()
  const watchdog = setTimeout(() => {
    console.log(`\nCRASH: the bench did not finish within ${WATCHDOG_MS / 60000} minutes`)
    report(deliveries, failover, errors)
    children.cleanup()
    process.exit(1)
  }, WATCHDOG_MS)
  watchdog.unref()

  console.log(`Cluster bench (SPEC §12): ${fmtInt(clients)} SSE clients, ${EVENTS} create+delete pairs (pairs >= ${SPACING_MS} ms apart), single node vs ${NODES} nodes on one PostgreSQL; then ${KILLS} leader kills`)
  console.log(`node ${process.version}, ${cpus().length} cores, ${CLIENT_PROCS} client processes (raw HTTP/1.1), fd limit ${fmtInt(children.fdLimit)}, clock CLOCK_MONOTONIC`)
  const postgres = await startPostgres()
  children.atCleanup(() => {
    const pid = postmasterPid(postgres)
    try { if (pid !== undefined) process.kill(pid, 'SIGKILL') } catch { /* gone */ }
    rmSync(postgres.dir, { recursive: true, force: true, maxRetries: 5 })
  })
  try {
    for (const [runIndex, setup] of (['single', 'cluster'] as const).entries()) {
      log(`[${setup}] load average ${loadavg().map(l => l.toFixed(2)).join(' ')}`)
      const dir = children.tempDir(`estatus-bench-cluster-${setup}-`)
      let nodes: BenchServer[] = []
      try {
        const url = setup === 'cluster' ? await postgres.createDatabase('bench_cluster') : undefined
        nodes = await startNodes(setup === 'cluster' ? NODES : 1, dir, url)
        deliveries.push(await runDelivery(setup, nodes, runIndex, dir, url === undefined ? undefined : postmasterPid(postgres), log))
        if (url !== undefined) {
          log(`[failover] load average ${loadavg().map(l => l.toFixed(2)).join(' ')}`)
          failover = await runFailover(url, nodes, dir, started, log)
        }
      } catch (err) {
        errors.push(`${setup}: ${describeCrash(err, nodes)}`)
        log(`  CRASH: ${errors.at(-1)}`)
      } finally {
        await Promise.all(nodes.map(node => children.stop(node.child)))
        children.removeTempDir(dir)
      }
    }
  } finally {
    await postgres.stop()
  }
  clearTimeout(watchdog)
  report(deliveries, failover, errors)
  console.log(`\ntotal ${fmt((Date.now() - started) / 1000, 0)} s`)
  return errors.length > 0 ? 1 : 0
}

/** The error, and which node had exited with what last words. */
function describeCrash (err: unknown, nodes: BenchServer[]): string {
  const exited = (child: ChildProcess): string | number | null => child.exitCode ?? child.signalCode
  const dead = nodes.filter(node => exited(node.child) !== null)
  return (err as Error).message + dead.map(node => ` (node pid ${node.pid} exited: ${exited(node.child)}; last log: ${node.lastWords()})`).join('')
}

const verdict = (ok: boolean): string => ok ? 'PASS' : 'FAIL'
const median = (values: number[]): number => percentile(Float64Array.from(values).sort(), 0.5)

function report (deliveries: DeliveryResult[], failover: FailoverResult | null, errors: string[]): void {
  console.log('\nDelivery (latency = POST sent -> serverAdded received, over all client x event pairs; CPU = user+sys over the mutation phase)')
  const head = ['setup', 'nodes', 'clients', 'connect ms', 'p50 ms', 'p99 ms', 'max ms', 'POST p50 ms', '1st p50 ms', 'spread p50 ms', 'delivered', 'dups', 'orders', 'node CPU s', 'fping CPU s', 'PG CPU s', 'total CPU s']
  printTable(head, deliveries.map(r => {
    const d = r.deliveries
    const total = r.nodeCpuS + r.fpingCpuS + (Number.isNaN(r.postgresCpuS) ? 0 : r.postgresCpuS)
    return [r.setup, String(r.nodes), fmtInt(r.connected), fmt(r.connectMs, 0), fmt(d.p50, 2), fmt(d.p99, 2), fmt(d.max, 2), fmt(r.postP50, 2), fmt(d.firstP50, 2), fmt(d.spreadP50, 2),
      `${fmt(100 * d.delivered / r.expected, 3)}%`, fmtInt(d.duplicates), String(d.orders), fmt(r.nodeCpuS, 2), fmt(r.fpingCpuS, 2), fmt(r.postgresCpuS, 2), fmt(total, 2)]
  }), new Set([0]))
  for (const r of deliveries) {
    const d = r.deliveries
    console.log(`  ${r.setup}: ${fmtInt(d.delivered)}/${fmtInt(r.expected)} delivered, ${fmtInt(d.completeStreams)} streams complete, ${d.orders} distinct order(s), ${fmtInt(d.idRegressions)} id regressions, serverAdded data line ${d.dataLineBytes} B${r.notes.length > 0 ? '; ' + r.notes.join('; ') : ''}`)
  }

  if (failover !== null) {
    const { kills } = failover
    console.log(`\nFailover (${kills.length} SIGKILLs of the leader; seconds from the kill)`)
    printTable(['kill', 'killed pid', 'new leader pid', 'lease s', 'first probe seen s', 'probed at s', 'replacement start s'], kills.map((k, i) => [
      String(i + 1), String(k.killedPid), String(k.newLeaderPid), fmt(k.leaseMs / 1000, 2), fmt(k.probeMs / 1000, 2), fmt(k.probedAtMs / 1000, 2), fmt(k.replacementMs / 1000, 1)
    ]))
    for (const [name, key] of [['lease', 'leaseMs'], ['first probe seen', 'probeMs']] as const) {
      const values = kills.map(k => k[key])
      console.log(`  ${name}: median ${fmt(median(values) / 1000, 2)} s, max ${fmt(Math.max(...values) / 1000, 2)} s`)
    }
    console.log(`  ${failover.inventedFlips.length} statusChange events since the first kill; ${failover.terms} leadership changes (lease terms) for ${kills.length} kills${failover.notes.length > 0 ? '; ' + failover.notes.join('; ') : ''}`)
    for (const flip of failover.inventedFlips) {
      const at = Date.parse(flip.update.timestamp)
      const before = kills.filter(k => k.killedAt <= at)
      const since = before.length === 0 ? 'before the first kill' : `${fmt((at - (before.at(-1) as Kill).killedAt) / 1000, 2)} s after kill ${before.length}`
      console.log(`    event ${flip.id}: ${flip.update.name} ${flip.update.isOnline ? 'online' : 'offline'} at ${flip.update.timestamp}, ${since}`)
    }
  }

  console.log('\nTargets')
  const single = deliveries.find(r => r.setup === 'single')
  const cluster = deliveries.find(r => r.setup === 'cluster')
  if (cluster === undefined) console.log('  cluster delivery: FAIL (no result)')
  else {
    const d = cluster.deliveries
    console.log(`  cluster: every client every event exactly once: ${verdict(d.delivered === cluster.expected && d.duplicates === 0)} (${fmtInt(d.delivered)}/${fmtInt(cluster.expected)}, ${fmtInt(d.duplicates)} duplicates)`)
    console.log(`  cluster: one global order: ${verdict(d.orders === 1 && d.completeStreams === clients && d.idRegressions === 0)} (${d.orders} distinct order(s) over ${fmtInt(d.completeStreams)} complete streams, ${fmtInt(d.idRegressions)} id regressions)`)
    if (single !== undefined) console.log(`  cluster p99 / single p99 (informational): ${fmt(d.p99 / single.deliveries.p99, 2)}x (${fmt(d.p99, 2)} ms vs ${fmt(single.deliveries.p99, 2)} ms)`)
  }
  if (failover === null || failover.kills.length === 0) console.log('  failover <= 10 s: FAIL (no result)')
  else {
    const maxLease = Math.max(...failover.kills.map(k => k.leaseMs))
    const maxProbe = Math.max(...failover.kills.map(k => k.probeMs))
    console.log(`  failover <= 10 s, another node leads (max over ${failover.kills.length}): ${verdict(maxLease <= FAILOVER_TARGET_MS)} (${fmt(maxLease / 1000, 2)} s)`)
    console.log(`  failover <= 10 s, the new leader's first probe result seen (max over ${failover.kills.length}): ${verdict(maxProbe <= FAILOVER_TARGET_MS)} (${fmt(maxProbe / 1000, 2)} s)`)
    console.log(`  failover invents no flip: ${verdict(failover.inventedFlips.length === 0)} (${failover.inventedFlips.length} statusChange events)`)
  }
  if (errors.length > 0) {
    console.log('\nCrashed phases')
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
