/**
 * The servers a bench measures, as child processes: their output kept (the first lines, for
 * error messages and the warnings count), and server.ts itself started the way the benches
 * run it — HOST=127.0.0.1, LOG_LEVEL=warn, the heartbeat at its maximum so that it adds no
 * traffic, the monitor running as configured by default (fping at 1 s).
 */
import type { ChildProcess } from 'node:child_process'
import { freePort } from '../../test/support/ports.ts'
import type { BenchChildren } from './children.ts'
import { waitHealthy } from './http.ts'

const LOG_LINES_KEPT = 200

export interface BenchServer {
  child: ChildProcess
  pid: number
  port: number
  /** Its first output lines. */
  log: string[]
  /** The last few lines, for an error message. */
  lastWords (): string
  /** Its pino lines at warn and above. */
  warnings (): string[]
}

/** Keeps the output of a child started with piped stdout/stderr. */
export function watchServer (child: ChildProcess, port: number): BenchServer {
  const log: string[] = []
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim() !== '' && log.length < LOG_LINES_KEPT) log.push(line)
    })
  }
  return {
    child,
    pid: child.pid as number,
    port,
    log,
    lastWords: () => log.slice(-3).join(' | ').slice(0, 300),
    warnings: () => log.filter(line => /"level":(40|50|60)/.test(line))
  }
}

export interface EstatusStart {
  /** ESTATUS_DATA_FILE. */
  dataFile: string
  /** More environment (ESTATUS_DATABASE_URL, …). */
  env?: NodeJS.ProcessEnv
  nodeFlags?: string[]
  /** Until /health answers 200. */
  timeoutMs: number
}

/** server.ts in its own process group (its fping goes with it), resolved once it is healthy. */
export async function startEstatus (children: BenchChildren, options: EstatusStart): Promise<BenchServer> {
  const port = await freePort()
  const child = children.start('server.ts', {
    group: true,
    nodeFlags: options.nodeFlags,
    env: {
      HOST: '127.0.0.1',
      PORT: String(port),
      ESTATUS_DATA_FILE: options.dataFile,
      LOG_LEVEL: 'warn',
      ESTATUS_HEARTBEAT_MS: '3600000',
      ...options.env
    }
  })
  const server = watchServer(child, port)
  try {
    await waitHealthy(port, child, options.timeoutMs, server.lastWords)
  } catch (err) {
    await children.kill(child)
    throw err
  }
  return server
}
