// ICMP probe benchmark: long-lived sharded fping (probes/fping/) versus the old way,
// one process spawned per probe. Loopback targets only (127.0.x.y).
//
//   npm run bench:probe                 # 30 s per case
//   BENCH_SECONDS=10 npm run bench:probe
//
// CPU = this process (process.cpuUsage) + its children: children alive at the window's edges
// are read from /proc/<pid>/stat (utime+stime), children that ended inside the window are in
// this process' cutime+cstime (Node reaps them), so
//   children = Δ(self cutime+cstime) + Σ(alive at end) − Σ(alive at start).
// Peak RSS = the largest sampled sum of this process' RSS and its children's VmRSS.
import { execFileSync, spawn } from 'node:child_process'
import { createPinger, shardLayout, type PingResult } from '../probes/fping/index.ts'
import { which } from '../test/support/netns.ts'
import { childrenOf, cpuMs, rssKiB, ticksPerSecond } from '../test/support/proc.ts'
import { sleep } from '../test/support/wait.ts'

const SECONDS = Math.max(1, Number(process.env.BENCH_SECONDS ?? 30))
const WARMUP_MS = 2000
const PERIOD_MS = 1000
const SIZES = [100, 1000, 5000]
const REFERENCE_N = 100

function loopbackTargets (n: number): string[] {
  const out: string[] = []
  for (let x = 0; out.length < n; x++) {
    for (let y = 1; y <= 254 && out.length < n; y++) out.push(`127.0.${x}.${y}`)
  }
  return out
}

/**
 * Live probe children (fping / ping; not tsx's esbuild helper): pid → CPU ms.
 * Zombies are left out: their time is already in our children's time once reaped.
 */
function childCpu (): Map<number, number> {
  const out = new Map<number, number>()
  for (const { pid, argv } of childrenOf(process.pid)) {
    if (!/(^|\/)f?ping$/.test(argv[0] ?? '')) continue
    const ms = cpuMs(pid)
    if (ms !== undefined) out.set(pid, ms)
  }
  return out
}

interface Row {
  method: string
  n: number
  seconds: number
  results: number
  alive: number
  nodeCpu: number
  childCpu: number
  peakRssMb: number
  processes: string
}

/** Measures one window: counts results inside it, CPU and RSS of this process + children. */
async function measure (count: { results: number, alive: number, open: boolean }, procsNote: () => string): Promise<Omit<Row, 'method' | 'n'>> {
  await sleep(WARMUP_MS)
  const kids0 = childCpu()
  const cu0 = cpuMs(process.pid, true) ?? 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  count.results = 0
  count.alive = 0
  count.open = true
  let peakKb = 0
  const end = t0 + SECONDS * 1000
  while (performance.now() < end) {
    await sleep(Math.min(500, end - performance.now()))
    const kb = Math.round(process.memoryUsage().rss / 1024) + [...childCpu().keys()].reduce((sum, pid) => sum + (rssKiB(pid) ?? 0), 0)
    peakKb = Math.max(peakKb, kb)
  }
  count.open = false
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const kids1 = childCpu()
  const cu1 = cpuMs(process.pid, true) ?? 0
  let ms = cu1 - cu0
  for (const v of kids1.values()) ms += v
  for (const v of kids0.values()) ms -= v
  return {
    seconds,
    results: count.results,
    alive: count.alive,
    nodeCpu: (cpu.user + cpu.system) / 1e6,
    childCpu: ms / 1000,
    peakRssMb: peakKb / 1024,
    processes: procsNote()
  }
}

const quietLog = {
  info () {},
  debug () {},
  warn (...a: any[]) { console.error('warn:', ...a) },
  error (...a: any[]) { console.error('error:', ...a) }
}

async function benchPinger (n: number): Promise<Row> {
  const count = { results: 0, alive: 0, open: false }
  const pinger = createPinger({
    intervalMs: PERIOD_MS,
    timeoutMs: PERIOD_MS,
    log: quietLog,
    onResult (r: PingResult) {
      if (!count.open) return
      count.results++
      if (r.alive) count.alive++
    }
  })
  try {
    pinger.setTargets(loopbackTargets(n))
    const m = await measure(count, () => `${childCpu().size} fping`)
    if (pinger.error !== null) throw new Error(pinger.error)
    return { method: 'fping -l, sharded', n, ...m }
  } finally {
    await pinger.close()
  }
}

async function benchSpawnPerProbe (n: number): Promise<Row> {
  const ping = which('ping')
  const fping = which('fping') ?? 'fping'
  const [cmd, argsFor, method] = ping !== null
    ? [ping, (a: string) => ['-c1', '-W1', '-q', a], 'spawn `ping -c1 -W1` per probe']
    : [fping, (a: string) => ['-c1', '-t1000', '-q', a], 'spawn `fping -c1` per probe (no `ping`)']
  const count = { results: 0, alive: 0, open: false }
  const timers: NodeJS.Timeout[] = []
  const starters: NodeJS.Timeout[] = []
  let spawned = 0
  let stopped = false
  const probe = (address: string): void => {
    if (stopped) return
    if (count.open) spawned++
    const child = spawn(cmd, argsFor(address), { stdio: 'ignore' })
    child.on('error', () => {})
    child.on('exit', (code) => {
      if (!count.open) return
      count.results++
      if (code === 0) count.alive++
    })
  }
  loopbackTargets(n).forEach((address, i) => {
    // spread evenly over the period, as independent per-server timers would be
    starters.push(setTimeout(() => {
      probe(address)
      timers.push(setInterval(() => probe(address), PERIOD_MS))
    }, Math.floor(i * PERIOD_MS / n)))
  })
  try {
    const m = await measure(count, () => `${spawned} spawned`)
    return { method, n, ...m }
  } finally {
    stopped = true
    for (const t of starters) clearTimeout(t)
    for (const t of timers) clearInterval(t)
    // let the last probes finish
    for (let i = 0; i < 40 && childCpu().size > 0; i++) await sleep(100)
  }
}

function fmt (row: Row): string[] {
  const ideal = row.n * row.seconds * 1000 / PERIOD_MS
  const cpu = row.nodeCpu + row.childCpu
  return [
    row.method,
    String(row.n),
    (row.results / row.seconds).toFixed(1),
    (row.n * 1000 / PERIOD_MS).toFixed(0),
    `${(100 * row.results / ideal).toFixed(1)}%`,
    row.results > 0 ? `${(100 * row.alive / row.results).toFixed(1)}%` : '-',
    row.nodeCpu.toFixed(2),
    row.childCpu.toFixed(2),
    cpu.toFixed(2),
    `${(100 * cpu / row.seconds).toFixed(1)}%`,
    row.peakRssMb.toFixed(1),
    row.processes
  ]
}

function table (rows: string[][]): string {
  const head = ['method', 'targets', 'results/s', 'ideal/s', '% ideal', 'alive', 'node CPU s', 'child CPU s', 'CPU s', '% core', 'peak RSS MB', 'processes']
  const all = [head, ...rows]
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)))
  const line = (r: string[]): string => r.map((c, i) => i < 1 ? c.padEnd(w[i]!) : c.padStart(w[i]!)).join(' | ')
  return [line(head), w.map((x) => '-'.repeat(x)).join('-|-'), ...rows.map(line)].join('\n')
}

async function main (): Promise<void> {
  const fpingVersion = ((): string => {
    try { return execFileSync(which('fping') ?? 'fping', ['-v'], { encoding: 'utf8' }).trim() } catch { return 'fping not found' }
  })()
  console.log(`ICMP probe benchmark: period ${PERIOD_MS} ms, ${SECONDS} s per case after ${WARMUP_MS} ms warm-up; ${fpingVersion}; ` +
    `up to ${shardLayout(PERIOD_MS).targetsPerProcess} targets per fping process (-i ${shardLayout(PERIOD_MS).gapMs}); node ${process.version}; CLK_TCK ${ticksPerSecond()}`)
  if (which('ping') === null) console.log('note: `ping` (iputils-ping) is not installed: the reference spawns `fping -c1 -t1000` per probe instead')
  const rows: Row[] = []
  for (const n of SIZES) {
    process.stderr.write(`… fping -l with ${n} targets\n`)
    rows.push(await benchPinger(n))
    await sleep(500)
    if (n === REFERENCE_N) {
      process.stderr.write(`… one process per probe with ${n} targets\n`)
      rows.push(await benchSpawnPerProbe(n))
      await sleep(500)
    }
  }
  console.log()
  console.log(table(rows.map(fmt)))
  console.log()

  const cpuOf = (r: Row): number => r.nodeCpu + r.childCpu
  const big = rows.find((r) => r.n === 5000 && r.method.startsWith('fping -l'))
  const small = rows.find((r) => r.n === REFERENCE_N && r.method.startsWith('fping -l'))
  const ref = rows.find((r) => r.n === REFERENCE_N && r.method.startsWith('spawn'))
  let ok = true
  if (big !== undefined) {
    const rate = 100 * big.results / (big.n * big.seconds * 1000 / PERIOD_MS)
    const core = 100 * cpuOf(big) / big.seconds
    const pass = rate >= 98 && core < 25
    ok &&= pass
    console.log(`target 5,000 targets: >= 98% of ideal rate using < 25% of one core: ${rate.toFixed(1)}%, ${core.toFixed(1)}% → ${pass ? 'PASS' : 'FAIL'}`)
  }
  if (small !== undefined && ref !== undefined) {
    const ratio = cpuOf(ref) / Math.max(cpuOf(small), 1e-3)
    const pass = ratio >= 10
    ok &&= pass
    console.log(`target ${REFERENCE_N} targets: >= 10x less CPU than one process per probe: ${ratio.toFixed(1)}x → ${pass ? 'PASS' : 'FAIL'}`)
  }
  process.exitCode = ok ? 0 : 1
}

await main()
