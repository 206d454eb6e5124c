/**
 * The standalone server (`server.ts`, what `npm start` runs) as a child process on
 * 127.0.0.1 at a free port: `node --import tsx server.ts` with PORT, HOST, ESTATUS_DATA_FILE
 * and LOG_LEVEL=warn set (plus any extra env), resolved once it answers.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { freePort, sleep } from './helpers.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const START_TIMEOUT_MS = 20000
/** How much of the child's stdout + stderr is kept (the tail), for error messages. */
const OUTPUT_KEPT = 4000

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

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
  /** In its own process group, so `process.kill(-pid, signal)` reaches the probes it started too. */
  detached?: boolean
  /** The path polled until it answers 200; default `/health`. */
  readyPath?: string
}

/**
 * Spawns server.ts and waits (up to 20 s) until `readyPath` answers 200. When it exits
 * before that or does not answer in time, it is killed (its group when detached) and this
 * rejects with its output.
 */
export async function spawnServer (options: SpawnServerOptions): Promise<ServerProcess> {
  const port = await freePort()
  const detached = options.detached ?? false
  const proc = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd: ROOT,
    detached,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ESTATUS_DATA_FILE: options.dataFile,
      LOG_LEVEL: 'warn',
      ...options.env
    }
  })
  if (proc.pid === undefined) throw new Error('could not spawn server.ts')
  const pid = proc.pid
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
        try { process.kill(detached ? -pid : pid, 'SIGKILL') } catch { /* already gone */ }
        await exited
        throw new Error(`server.ts did not answer within ${START_TIMEOUT_MS / 1000} s (${(err as Error).message}):\n${output}`)
      }
      await sleep(20)
    }
  }
}
