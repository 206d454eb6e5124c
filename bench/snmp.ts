/**
 * SNMP disk-probe bench: 100 concurrent targets (100 sessions, 2–4 disks each) against
 * one local Net-SNMP `snmpd`, 10 rounds; wall time and this process's CPU time
 * (process.cpuUsage) per round, plus the agent's CPU time for reference.
 *
 *   node --import tsx/esm bench/snmp.ts
 *
 * Starts its own snmpd on 127.0.0.1 (random UDP port, temp config) unless
 * SNMP_BENCH_PORT and SNMP_BENCH_COMMUNITY name a running agent on 127.0.0.1.
 * Env: SNMP_BENCH_TARGETS (100), SNMP_BENCH_ROUNDS (10), SNMP_BENCH_TIMEOUT_MS (5000).
 */
import { execFile } from 'node:child_process'
import { cpus } from 'node:os'
import { promisify } from 'node:util'
import { performance } from 'node:perf_hooks'
import { readSnmpDisks, type SnmpDiskTarget } from '../probes/snmp-disks.ts'
import { cpuMs as processCpuMs } from '../test/support/proc.ts'
import { snmpEnv, startSnmpd } from '../test/support/snmpd.ts'

const execFileP = promisify(execFile)
const TARGETS = Number(process.env.SNMP_BENCH_TARGETS ?? 100)
const ROUNDS = Number(process.env.SNMP_BENCH_ROUNDS ?? 10)
const TIMEOUT_MS = Number(process.env.SNMP_BENCH_TIMEOUT_MS ?? 5000)
const HOST = '127.0.0.1'

interface Agent { port: number, community: string, pid?: number, env: NodeJS.ProcessEnv, stop: () => Promise<void> }

/** A fresh local agent (test/snmpd.ts) in the shape the bench uses. */
async function ownAgent (): Promise<Agent> {
  const agent = await startSnmpd()
  return { port: agent.port, community: agent.community, pid: agent.proc.pid, env: snmpEnv(agent.dir), stop: agent.stop }
}

async function storageIndexes (agent: Agent): Promise<number[]> {
  const { stdout } = await execFileP('snmpwalk', ['-v2c', '-c', agent.community, '-On', '-Oq', '-t', '1', `${HOST}:${agent.port}`, '1.3.6.1.2.1.25.2.3.1.1'], { env: agent.env })
  return stdout.split('\n').filter(l => l !== '').map(l => Number(l.split(' ')[1]))
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const pad = (v: string | number, n: number): string => String(v).padStart(n)

async function main (): Promise<void> {
  const external = process.env.SNMP_BENCH_PORT !== undefined && process.env.SNMP_BENCH_COMMUNITY !== undefined
  const agent: Agent = external
    ? { port: Number(process.env.SNMP_BENCH_PORT), community: process.env.SNMP_BENCH_COMMUNITY!, env: { ...process.env, MIBS: '' }, stop: async () => {} }
    : await ownAgent()
  try {
    const indexes = await storageIndexes(agent)
    if (indexes.length < 4) throw new Error(`the agent lists only ${indexes.length} storage rows`)
    // Target i gets 2–4 distinct indexes, deterministically spread over the table.
    const targets: SnmpDiskTarget[] = Array.from({ length: TARGETS }, (_, i) => {
      const n = 2 + (i % 3)
      const disks = Array.from({ length: n }, (_, j) => ({ index: indexes[(i * 7 + j * 3) % indexes.length]!, name: `t${i}d${j}` }))
      const unique = disks.filter((d, k) => disks.findIndex(e => e.index === d.index) === k)
      return { host: HOST, port: agent.port, community: agent.community, timeoutMs: TIMEOUT_MS, disks: unique }
    })
    const diskCount = targets.reduce((a, t) => a + t.disks.length, 0)
    console.log(`SNMP bench: ${TARGETS} concurrent targets (${diskCount} disks, ${Math.min(...targets.map(t => t.disks.length))}–${Math.max(...targets.map(t => t.disks.length))} per target) × ${ROUNDS} rounds`)
    console.log(`agent: Net-SNMP snmpd on udp ${HOST}:${agent.port}, ${indexes.length} hrStorage rows; node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'})`)
    console.log('')
    console.log('round | wall ms | cpu ms (user+sys) | cpu/wall | disks ok | failed | snmpd cpu ms')
    console.log('------+---------+-------------------+----------+----------+--------+-------------')
    const walls: number[] = []
    const cpuTimes: number[] = []
    const agentCpuStart = processCpuMs(agent.pid)
    for (let round = 1; round <= ROUNDS; round++) {
      const agentCpu0 = processCpuMs(agent.pid)
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      const results = await Promise.all(targets.map(async t => await readSnmpDisks(t)))
      const wall = performance.now() - t0
      const cpu = process.cpuUsage(cpu0)
      const agentCpu1 = processCpuMs(agent.pid)
      const cpuMs = (cpu.user + cpu.system) / 1000
      const flat = results.flat()
      const ok = flat.filter(r => r.ok).length
      walls.push(wall)
      cpuTimes.push(cpuMs)
      const agentCpu = agentCpu0 !== undefined && agentCpu1 !== undefined ? String(agentCpu1 - agentCpu0) : 'n/a'
      console.log(`${pad(round, 5)} | ${pad(wall.toFixed(1), 7)} | ${pad(`${cpuMs.toFixed(1)} (${(cpu.user / 1000).toFixed(1)}+${(cpu.system / 1000).toFixed(1)})`, 17)} | ${pad((cpuMs / wall * 100).toFixed(0) + ' %', 8)} | ${pad(ok, 8)} | ${pad(flat.length - ok, 6)} | ${pad(agentCpu, 12)}`)
      if (flat.length - ok > 0) {
        const firstError = flat.find(r => !r.ok)
        if (firstError !== undefined && !firstError.ok) console.log(`      first error: ${firstError.error}`)
      }
    }
    console.log('')
    console.log(`wall ms: median ${median(walls).toFixed(1)}, min ${Math.min(...walls).toFixed(1)}, max ${Math.max(...walls).toFixed(1)}; ` +
      `cpu ms: median ${median(cpuTimes).toFixed(1)}, min ${Math.min(...cpuTimes).toFixed(1)}, max ${Math.max(...cpuTimes).toFixed(1)} ` +
      `(${(median(cpuTimes) / TARGETS).toFixed(2)} ms per target, ${(median(cpuTimes) / diskCount).toFixed(3)} ms per disk)`)
    const agentCpuEnd = processCpuMs(agent.pid)
    if (agentCpuStart !== undefined && agentCpuEnd !== undefined) {
      console.log(`snmpd cpu ms over all ${ROUNDS} rounds: ${agentCpuEnd - agentCpuStart} (10 ms clock-tick resolution per round)`)
    }
    console.log('cpu ms is process.cpuUsage() (all threads of this process: main, GC, libuv), so it can exceed wall time')
  } finally {
    await agent.stop()
  }
}

await main()
