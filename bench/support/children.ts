/**
 * The child processes and temp dirs of one bench run, removed whatever happens: at a normal
 * end, at `process.exit` (a watchdog), and on SIGINT/SIGTERM/SIGHUP.
 *
 * Children are `node --import tsx/esm <file>` in the repo, under `prlimit --nofile=<max allowed>`
 * when the soft fd limit is lower (without CAP_SYS_RESOURCE the hard limit is the ceiling).
 * A `group` child (a server) leads its own process group, so that a kill takes the fping
 * processes it started along, and preloads test/support/parent-guard.ts, so that it ends
 * when the bench is gone without cleaning up (SIGKILLed).
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const PARENT_GUARD = join(ROOT, 'test', 'support', 'parent-guard.ts')

export interface StartOptions {
  /** Node flags before `--import tsx/esm` (e.g. `--cpu-prof`). */
  nodeFlags?: string[]
  /** Added to the bench's own environment. */
  env?: NodeJS.ProcessEnv
  /** An IPC channel, stdout/stderr inherited; else both piped. */
  ipc?: boolean
  /** Its own process group, killed as a whole; guarded against the bench's death. */
  group?: boolean
}

export interface BenchChildren {
  /** The fd limit children run with. */
  readonly fdLimit: number
  start (file: string, options?: StartOptions): ChildProcess
  /** SIGTERM, SIGKILL after `timeoutMs`; resolves once it exited (a group: and the rest of its group is killed). */
  stop (child: ChildProcess, timeoutMs?: number): Promise<void>
  /** SIGKILL at once, the whole group for a group child; resolves once it exited. */
  kill (child: ChildProcess): Promise<void>
  /** A new temp dir, removed at cleanup at the latest. */
  tempDir (prefix: string): string
  removeTempDir (dir: string): void
  /** Runs `step` (synchronously) at cleanup, before the temp dirs go: for what the bench started by other means. */
  atCleanup (step: () => void): void
  /** Kills every child still running and removes every temp dir; safe to call twice. */
  cleanup (): void
}

const alive = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null

/** The fd limit for children: the soft limit raised to `want`, or to the hard one, when prlimit may. */
function raisedFdLimit (want: number): { prefix: string[], limit: number } {
  let hard = 0
  let soft = 0
  try {
    const out = execFileSync('bash', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n')
    soft = out[0] === 'unlimited' ? 1 << 20 : Number(out[0])
    hard = out[1] === 'unlimited' ? 1 << 20 : Number(out[1])
  } catch { return { prefix: [], limit: 1024 } }
  for (const limit of [want, hard]) {
    if (limit <= soft) break
    const ok = spawnSync('prlimit', [`--nofile=${limit}:${limit}`, 'true'], { stdio: 'ignore' }).status === 0
    if (ok) return { prefix: ['prlimit', `--nofile=${limit}:${limit}`, '--'], limit }
  }
  return { prefix: [], limit: soft }
}

/** One per bench process: installs the exit and signal handlers. */
export function superviseChildren (): BenchChildren {
  const fd = raisedFdLimit(200_000)
  const children = new Set<ChildProcess>()
  /** Leaders of process groups not yet swept: a group can outlive its leader. */
  const groups = new Set<number>()
  const tempDirs = new Set<string>()
  const steps: Array<() => void> = []

  function killGroup (pid: number): void {
    try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ }
    groups.delete(pid)
  }

  async function exited (child: ChildProcess): Promise<void> {
    if (alive(child)) await new Promise<void>(resolve => child.once('exit', () => resolve()))
    if (child.pid !== undefined && groups.has(child.pid)) killGroup(child.pid)
  }

  const supervised: BenchChildren = {
    fdLimit: fd.limit,
    start (file, options = {}) {
      const preload = options.group === true ? ['--import', PARENT_GUARD] : []
      const argv = [...fd.prefix, process.execPath, ...(options.nodeFlags ?? []), '--import', 'tsx/esm', ...preload, file]
      const child = spawn(argv[0] as string, argv.slice(1), {
        cwd: ROOT,
        detached: options.group === true,
        env: { ...process.env, ...options.env, ...(options.group === true ? { ESTATUS_TEST_PARENT: String(process.pid) } : {}) },
        stdio: options.ipc === true ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe']
      })
      children.add(child)
      if (options.group === true && child.pid !== undefined) groups.add(child.pid)
      child.once('exit', () => { children.delete(child) })
      return child
    },
    async stop (child, timeoutMs = 5_000) {
      if (alive(child)) child.kill('SIGTERM')
      const timer = setTimeout(() => { void supervised.kill(child) }, timeoutMs)
      await exited(child)
      clearTimeout(timer)
    },
    async kill (child) {
      if (child.pid !== undefined && groups.has(child.pid)) killGroup(child.pid)
      else if (alive(child)) child.kill('SIGKILL')
      await exited(child)
    },
    tempDir (prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix))
      tempDirs.add(dir)
      return dir
    },
    removeTempDir (dir) {
      rmSync(dir, { recursive: true, force: true })
      tempDirs.delete(dir)
    },
    atCleanup (step) { steps.push(step) },
    cleanup () {
      for (const child of children) {
        if (alive(child) && child.pid !== undefined && !groups.has(child.pid)) {
          try { process.kill(child.pid, 'SIGKILL') } catch { /* gone */ }
        }
      }
      children.clear()
      for (const pid of groups) killGroup(pid)
      for (const step of steps.splice(0)) {
        try { step() } catch { /* best effort: the rest must still run */ }
      }
      for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
      tempDirs.clear()
    }
  }

  process.on('exit', supervised.cleanup)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => { console.log(`\n${signal}: stopping`); supervised.cleanup(); process.exit(130) })
  }
  return supervised
}
