/**
 * Node children of the suite, guarded so none outlives its test: each runs in its own process
 * group (a kill of the group takes the fping processes it started along), the test's teardown
 * SIGKILLs that group, and the child preloads parent-guard.ts, which ends the group when the
 * test process is gone without a teardown (SIGKILLed, or killed by tap's time-out).
 *
 * spawnServer: the standalone server (`server.ts`, what `npm start` runs) on 127.0.0.1 at a
 * free port, with PORT, HOST, ESTATUS_DATA_FILE and LOG_LEVEL=warn set (plus any extra env),
 * resolved once it answers.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import type { Test } from './app.ts'
import { freePort } from './ports.ts'
import { sleep } from './wait.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const PARENT_GUARD = new URL('./parent-guard.ts', import.meta.url).href
/** Generous: `node --import tsx/esm` compiles on start, which takes seconds on a loaded machine. */
const START_TIMEOUT_MS = 60000
/** How much of the child's stdout + stderr is kept (the tail), for error messages. */
const OUTPUT_KEPT = 4000

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export interface NodeOptions {
  env?: NodeJS.ProcessEnv
  stdio?: StdioOptions
}

/**
 * `node --import tsx/esm <args>` in the repo, in its own process group, guarded as described above;
 * the teardown SIGKILLs the group (a no-op once it is empty).
 */
export function spawnNode (t: Test, args: string[], options: NodeOptions = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx/esm', '--import', PARENT_GUARD, ...args], {
    cwd: ROOT,
    detached: true,
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
    env: { ...(options.env ?? process.env), ESTATUS_TEST_PARENT: String(process.pid) }
  })
  if (child.pid === undefined) throw new Error(`could not spawn node ${args.join(' ')}`)
  const group = -child.pid
  t.teardown(() => { try { process.kill(group, 'SIGKILL') } catch { /* already gone */ } })
  return child
}

export interface ServerProcess {
  proc: ChildProcess
  pid: number
  url: string
  /** Resolves when the process has exited. */
  exited: Promise<Exit>
  /** The tail of what it wrote to stdout and stderr so far. */
  output (): string
}

export interface SpawnServerOptions {
  /** ESTATUS_DATA_FILE. */
  dataFile: string
  /** More environment on top of `process.env` and the defaults above (wins over them). */
  env?: Record<string, string>
  /** The path polled until it answers 200; default `/health`. */
  readyPath?: string
}

/**
 * Spawns server.ts and waits (up to 60 s) until `readyPath` answers 200. When it exits
 * before that or does not answer in time, its group is killed and this rejects with its output.
 */
export async function spawnServer (t: Test, options: SpawnServerOptions): Promise<ServerProcess> {
  const port = await freePort()
  const proc = spawnNode(t, ['server.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ESTATUS_DATA_FILE: options.dataFile,
      LOG_LEVEL: 'warn',
      ...options.env
    }
  })
  const pid = proc.pid!
  let output = ''
  const keep = (chunk: Buffer) => { output = (output + chunk.toString()).slice(-OUTPUT_KEPT) }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  let done = false
  const exited = new Promise<Exit>(resolve =>
    proc.once('exit', (code, signal) => { done = true; resolve({ code, signal }) }))
  const server: ServerProcess = { proc, pid, url: `http://127.0.0.1:${port}`, exited, output: () => output }

  const readyUrl = server.url + (options.readyPath ?? '/health')
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (done) throw new Error(`server.ts exited before answering:\n${output}`)
    try {
      const answer = await request(readyUrl)
      const text = await answer.body.text()
      if (answer.statusCode === 200) return server
      throw new Error(`GET answered ${answer.statusCode}: ${text}`)
    } catch (err) {
      if (Date.now() > deadline) {
        try { process.kill(-pid, 'SIGKILL') } catch { /* already gone */ }
        await exited
        throw new Error(`server.ts did not answer within ${START_TIMEOUT_MS / 1000} s (${(err as Error).message}):\n${output}`)
      }
      await sleep(20)
    }
  }
}
