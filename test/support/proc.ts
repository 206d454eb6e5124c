/** The process table as /proc shows it: who started whom, and what they cost. */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/** Fields of /proc/<pid>/stat after the command name (index 0 = field 3, "state"); null when it is gone. */
export function statFields (pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch { return null }
}

export interface ProcessEntry {
  pid: number
  ppid: number
  /** Its process group. */
  pgrp: number
  argv: string[]
}

/** Every live (not zombie) process, or only those `filter` keeps. */
export function processes (filter: (entry: ProcessEntry) => boolean = () => true): ProcessEntry[] {
  const found: ProcessEntry[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const fields = statFields(Number(name))
    if (fields === null || fields[0] === 'Z') continue
    let argv: string[]
    try { argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(arg => arg !== '') } catch { continue }
    const entry = { pid: Number(name), ppid: Number(fields[1]), pgrp: Number(fields[2]), argv }
    if (filter(entry)) found.push(entry)
  }
  return found
}

export const childrenOf = (parent: number): ProcessEntry[] => processes(entry => entry.ppid === parent)

export interface FpingChild extends ProcessEntry {
  /** The addresses after `--`. */
  targets: string[]
}

/** The fping processes `parent` started (other test files run their own). */
export function fpingChildren (parent = process.pid): FpingChild[] {
  return childrenOf(parent)
    .filter(({ argv }) => argv.some(arg => arg.endsWith('fping')))
    .map(entry => {
      const dashes = entry.argv.indexOf('--')
      return { ...entry, targets: dashes >= 0 ? entry.argv.slice(dashes + 1) : [] }
    })
}

export function isAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

let clockTicks: number | undefined
/** Clock ticks per second, the unit of the CPU times in /proc/<pid>/stat. */
export function ticksPerSecond (): number {
  if (clockTicks === undefined) {
    try { clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { clockTicks = 100 }
  }
  return clockTicks
}

/** CPU time (user + system) of a process in ms; with `children`, that of its reaped children instead. */
export function cpuMs (pid: number | undefined, children = false): number | undefined {
  const fields = pid === undefined ? null : statFields(pid)
  if (fields === null) return undefined
  const [user, system] = children ? [fields[13], fields[14]] : [fields[11], fields[12]]
  return (Number(user) + Number(system)) * 1000 / ticksPerSecond()
}

/** CPU ms of a process's children: those reaped (cutime + cstime) and each one still running. */
export function childrenCpu (pid: number): { reaped: number, running: Map<number, number> } {
  const running = new Map<number, number>()
  for (const child of childrenOf(pid)) {
    const ms = cpuMs(child.pid)
    if (ms !== undefined) running.set(child.pid, ms)
  }
  return { reaped: cpuMs(pid, true) ?? NaN, running }
}

/** Children CPU ms between two readings: a child running at both counts its difference, one that ended counts from the first reading on. */
export const childrenCpuBetween = (a: ReturnType<typeof childrenCpu>, b: ReturnType<typeof childrenCpu>): number =>
  b.reaped - a.reaped + [...b.running.values()].reduce((x, y) => x + y, 0) - [...a.running.values()].reduce((x, y) => x + y, 0)

/** Resident memory of a process in KiB; undefined when it is gone. */
export function rssKiB (pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? undefined : Number(match[1])
  } catch { return undefined }
}
