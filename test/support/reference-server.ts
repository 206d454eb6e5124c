/**
 * What the benches that measure our server against a plain node:http reference share
 * (bench/config.ts, bench/large-config.ts): our server child, the reference's whole-document
 * write and JSON answer, and the start and stop of the server child, each in its own process (the bench
 * file forked with `--serve-<mode> <dataFile>`) so the load generator never shares an event
 * loop with the server it measures.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { open, rename } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * The reference's write of the whole document, the naive safe way: a temp file next to
 * `file`, fsync, rename over `file`; JSON.stringify(doc, null, 2) like ours. The caller
 * runs one at a time.
 */
export async function writeDocumentAtomically (file: string, doc: unknown): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(temp, 'wx', 0o600)
  try {
    await handle.writeFile(JSON.stringify(doc, null, 2) + '\n')
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temp, file)
}

/** Answers `body` as JSON with its content length. */
export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** In the child: tells the bench the port it listens on (the message `startChild` waits for). */
export function reportPort (address: AddressInfo | string | null): void {
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 })
}

/**
 * In the child: our server (Fastify + the estatus plugin, logger silent, probing off: fping
 * path missing, intervals at their maximum) on `dataFile`; `pluginTimeout` as Fastify's.
 */
export async function serveOurs (dataFile: string, pluginTimeout?: number): Promise<void> {
  const { default: Fastify } = await import('fastify')
  const { default: estatus } = await import('../../app.ts')
  const app = Fastify({ logger: { level: 'silent' }, ...(pluginTimeout === undefined ? {} : { pluginTimeout }) })
  await app.register(estatus, {
    dataFile,
    fpingPath: join(tmpdir(), 'no-such-dir', 'fping'),
    pingIntervalMs: 3_600_000,
    diskIntervalMs: 86_400_000,
    heartbeatMs: 3_600_000
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  reportPort(app.server.address())
  process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
}

/**
 * Forks `benchFile` (through tsx) as the `mode` server on `dataFile` and resolves once it
 * reports its port; `startMs` is the time from the fork to that report.
 */
export async function startChild (benchFile: string, mode: 'ours' | 'reference', dataFile: string, timeoutMs: number): Promise<{ child: ChildProcess, port: number, startMs: number }> {
  const began = performance.now()
  const child = fork(benchFile, [`--serve-${mode}`, dataFile], { execArgv: ['--import', 'tsx/esm'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start within ${timeoutMs / 1000} s`)), timeoutMs)
    child.once('message', message => { clearTimeout(timer); resolve((message as { port: number }).port) })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`${mode} server exited (${code}) before listening`)) })
  })
  return { child, port, startMs: performance.now() - began }
}

/** SIGTERM, then SIGKILL after `killAfterMs`; resolves when the child has exited. */
export async function stopChild (child: ChildProcess, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
  await exited
  clearTimeout(timer)
}
