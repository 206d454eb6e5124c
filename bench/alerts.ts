// Alert benchmark (SPEC §10): 1,000 servers on real network-namespace addresses, probed by
// the app's fping at 1 s, taken down together by removing their addresses (the link stays up:
// the hosts die, the prober's network does not); one rule sends
// every down to three channels (webhook, Slack, Teams) whose receivers are local HTTP
// servers. Measured per (server, channel): time from the monitor's flip (its statusChange)
// to the receipt at the receiver; CPU of the process and of fping; and the probes' rhythm
// meanwhile: 100 more servers on loopback addresses stay up throughout, probed by the same
// fping; their results per second and the gap between two results of one of them show
// whether probing kept its 1 s rhythm.
//
// Cases, in one run over the same 1,000 servers:
//   reference  the same flip with no alert rule (what the flip alone costs)
//   single     1,000 servers in no group: 1,000 alerts × 3 channels
//   storm      the same servers in 50 groups of 20: one storm alert per group × 3 channels
//
//   sudo npm run bench:alerts              (needs root for `ip netns`)
//   BENCH_SERVERS=200 npm run bench:alerts
//
// The receivers and the app share this process (the receivers' share of the CPU is small:
// one short POST per alert and channel); fping is counted from /proc.
import Fastify from 'fastify'
import { createServer, type Server } from 'node:http'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import estatus from '../app.ts'
import type { MonitorResult } from '../plugins/monitor/index.ts'
import { createTestHosts, netnsSkipReason } from '../test/support/netns.ts'
import { call } from '../test/support/app.ts'
import { childrenCpu, childrenCpuBetween } from '../test/support/proc.ts'
import { sleep, waitFor } from '../test/support/wait.ts'

const SERVERS = Math.max(10, Number(process.env.BENCH_SERVERS ?? 1000))
const GROUP_SIZE = 20
/** Servers that stay up (loopback addresses inside the prober's namespace): their results show the probing rhythm. */
const CONTROLS = 100
const CHANNEL_TYPES = ['webhook', 'slack', 'teams'] as const
/** How long after the link goes down each case is measured (flip after 4 failed rounds, then delivery). */
const WINDOW_MS = 25_000

const name = (i: number) => `bench-${String(i + 1).padStart(4, '0')}`
const NAME = /bench-\d{4}/g

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]!
}
const ms = (value: number) => (Number.isNaN(value) ? '—' : `${Math.round(value)} ms`)

/** A local receiver: records when each server's name first arrived (a body may name many: a storm). */
async function receiver (type: string) {
  const firstSeen = new Map<string, number>()
  let requests = 0
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', chunk => chunks.push(chunk))
    req.on('end', () => {
      const at = Date.now()
      requests++
      for (const match of Buffer.concat(chunks).toString('utf8').matchAll(NAME)) if (!firstSeen.has(match[0])) firstSeen.set(match[0], at)
      res.writeHead(200, { 'content-type': 'application/json' }).end(type === 'slack' ? 'ok' : '{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    type,
    url: `http://127.0.0.1:${port}/hook`,
    firstSeen,
    get requests () { return requests },
    reset () { firstSeen.clear(); requests = 0 },
    close: () => new Promise<void>(resolve => server.close(() => resolve()))
  }
}

interface Row {
  case: string
  alerts: string
  received: string
  p50: string
  p99: string
  max: string
  cpu: string
  fpingCpu: string
  upProbed: string
  gapP99: string
  gapMax: string
}

async function main () {
  const skip = netnsSkipReason()
  if (skip !== false) throw new Error(`bench:alerts ${skip}`)
  const teardowns: Array<() => unknown> = []
  const t = { teardown: (fn: () => unknown) => { teardowns.unshift(fn) } }
  try {
    const hosts = await createTestHosts(t, { hostCount: SERVERS })
    const dir = await mkdtemp(join(tmpdir(), 'estatus-bench-alerts-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const dataFile = join(dir, 'estatus.json')
    await writeFile(dataFile, JSON.stringify({
      version: 1,
      nextServerId: SERVERS + 1,
      nextGroupId: 1,
      servers: [
        ...hosts.hostAddresses.map((address, i) => ({ id: `server-${String(i + 1).padStart(4, '0')}`, name: name(i), ip: address, dnsAddress: address })),
        ...Array.from({ length: CONTROLS }, (_, i) => ({ id: `control-${i + 1}`, name: `control ${i + 1}`, ip: `127.0.1.${i + 1}`, dnsAddress: `127.0.1.${i + 1}` }))
      ],
      groups: []
    }))

    const receivers = await Promise.all(CHANNEL_TYPES.map(receiver))
    t.teardown(() => Promise.all(receivers.map(r => r.close())))
    const app = Fastify({ logger: { level: 'warn' } })
    await app.register(estatus, { dataFile, fpingPath: hosts.fpingWrapper, pingIntervalMs: 1000, openapi: false })
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const api = async (method: string, path: string, body?: unknown) => {
      const answer = await call(base, method, path, body)
      if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${answer.text}`)
      return answer.json.data
    }

    // Flip times from the monitor's own statusChange; probe results for the rhythm.
    const flippedAt = new Map<string, number>()
    app.estatus.events.subscribe(event => {
      if (event.type === 'statusChange' && event.update.isOnline !== event.update.previousStatus && !event.update.isOnline) flippedAt.set(event.update.name, Date.parse(event.update.timestamp))
    })
    let results: Array<{ at: number, serverId: string }> | null = null
    app.estatus.monitor.onResult((result: MonitorResult) => {
      if (result.kind === 'ping' && result.serverId.startsWith('control-')) results?.push({ at: result.at, serverId: result.serverId })
    })

    const allOnline = () => waitFor(() => app.estatus.monitor.statuses().every(status => status.isOnline), 60_000, `all ${SERVERS} servers online`)
    await allOnline()
    console.error(`${SERVERS} servers online on one netns link, ${CONTROLS} on loopback; fping in the prober's namespace`)

    async function measureCase (label: string, expectAlerts: boolean): Promise<Row> {
      flippedAt.clear()
      for (const r of receivers) r.reset()
      results = []
      const cpu0 = process.cpuUsage()
      const kids0 = childrenCpu(process.pid)
      const started = Date.now()
      await hosts.addressesDown()
      await sleep(WINDOW_MS)
      const seconds = (Date.now() - started) / 1000
      const cpu = process.cpuUsage(cpu0)
      const fping = childrenCpuBetween(kids0, childrenCpu(process.pid)) / 1000
      const window = results
      results = null

      const latencies: number[] = []
      for (const r of receivers) {
        for (const [server, at] of r.firstSeen) {
          const flip = flippedAt.get(server)
          if (flip !== undefined) latencies.push(at - flip)
        }
      }
      // The rhythm of the servers that stay up: results per whole second, and the gap between two results of one.
      const perSecond = new Map<number, number>()
      const last = new Map<string, number>()
      const gaps: number[] = []
      for (const { at, serverId } of window) {
        const second = Math.floor((at - started) / 1000)
        perSecond.set(second, (perSecond.get(second) ?? 0) + 1)
        const previous = last.get(serverId)
        if (previous !== undefined) gaps.push(at - previous)
        last.set(serverId, at)
      }
      // Whole seconds inside the window (the first and last may be cut).
      const wholeSeconds = Math.floor(seconds) - 2
      let inside = 0
      for (let second = 1; second <= wholeSeconds; second++) inside += perSecond.get(second) ?? 0
      const probed = inside / (CONTROLS * wholeSeconds)
      const row: Row = {
        case: label,
        alerts: expectAlerts ? `${receivers[0]!.requests} per channel` : '—',
        received: expectAlerts ? `${latencies.length} / ${SERVERS * receivers.length}` : '—',
        p50: ms(percentile(latencies, 50)),
        p99: ms(percentile(latencies, 99)),
        max: ms(latencies.length === 0 ? NaN : Math.max(...latencies)),
        cpu: `${((cpu.user + cpu.system) / 1e6 / seconds * 100).toFixed(1)} %`,
        fpingCpu: `${(fping / seconds * 100).toFixed(1)} %`,
        upProbed: `${(probed * 100).toFixed(1)} %`,
        gapP99: ms(percentile(gaps, 99)),
        gapMax: ms(gaps.length === 0 ? NaN : Math.max(...gaps))
      }
      console.error(`${label}: ${flippedAt.size} flips, ${row.received} received`)
      await hosts.addressesUp()
      await allOnline()
      // The ups are delivered before the next case: until the receivers have been quiet for 3 s.
      const online = Date.now()
      const received = () => receivers.reduce((sum, r) => sum + r.requests, 0)
      for (let before = -1; before !== received();) {
        before = received()
        await sleep(3000)
      }
      if (expectAlerts) console.error(`${label}: the ups delivered ${((Date.now() - online - 3000) / 1000).toFixed(1)} s or less after all were online`)
      return row
    }

    const rows: Row[] = []
    rows.push(await measureCase('reference: flip, no rule', false))

    const channelIds: string[] = []
    for (const r of receivers) channelIds.push((await api('POST', '/api/config/channels', { name: `bench ${r.type}`, type: r.type, url: r.url })).id)
    await api('POST', '/api/config/alert-rules', { name: 'bench', enabled: true, scope: { serverIds: [], groupIds: [] }, on: ['down', 'up'], forSeconds: 0, renotifyMinutes: 0, channelIds })
    rows.push(await measureCase(`single: ${SERVERS} servers in no group`, true))

    const ids = app.estatus.store.servers().map(server => server.id).filter(id => id.startsWith('server-'))
    for (let g = 0; g * GROUP_SIZE < ids.length; g++) await api('POST', '/api/config/groups', { name: `rack ${g + 1}`, serverIds: ids.slice(g * GROUP_SIZE, (g + 1) * GROUP_SIZE) })
    rows.push(await measureCase(`storm: ${Math.ceil(SERVERS / GROUP_SIZE)} groups of ${GROUP_SIZE}`, true))

    console.log(`\nbench:alerts — ${SERVERS} servers (netns addresses on one link, fping at 1 s, threshold 4), addresses removed for ${WINDOW_MS / 1000} s per case; latency = receipt at the local receiver − the monitor's flip, per server and channel (webhook, Slack, Teams); rhythm: the ${CONTROLS} servers that stay up — upProbed = their results / (${CONTROLS} × seconds), gaps between two results of one of them (ideal: 100 %, 1000 ms)\n`)
    console.table(rows)
  } finally {
    for (const fn of teardowns) await fn()
  }
}

await main()
