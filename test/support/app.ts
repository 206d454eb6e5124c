import Fastify, { type FastifyInstance } from 'fastify'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { request as undiciRequest } from 'undici'
import estatus, { type EstatusOptions } from '../../app.ts'

export interface Test {
  teardown (fn: () => unknown): void
}

export async function tempDir (t: Test, prefix = 'estatus-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: any
}

/** One HTTP request with undici; `body` objects are sent as JSON, strings/Buffers as they are. */
export async function call (base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const raw = body === undefined || typeof body === 'string' || Buffer.isBuffer(body)
  const response = await undiciRequest(base + path, {
    method: method as 'GET',
    headers: raw ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : raw ? body as string | Buffer : JSON.stringify(body)
  })
  const text = await response.body.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: response.statusCode, headers: response.headers, text, json }
}

/** The data file's text once it holds every acknowledged change (it follows the store's journal in the background). */
export async function settledFileText (app: FastifyInstance, dataFile: string): Promise<string> {
  await app.estatus.store.flush()
  return await readFile(dataFile, 'utf8')
}

export interface Running {
  app: FastifyInstance
  url: string
  dataFile: string
  dir: string
  call (method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>
  /** The data file's text once it holds every acknowledged change (it follows the journal in the background). */
  fileText (): Promise<string>
}

/** A log destination that keeps every line, parsed: `startApp(t, options, dir, { log: collected.stream })`. */
export function collectLog () {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(JSON.parse(chunk.toString())); done() } })
  return { lines, stream }
}

/**
 * The real plugin on a real listening server on 127.0.0.1 with its data file in a temp dir.
 * `host.log`: where its log goes at `info` (else nowhere, or TEST_LOG_LEVEL to stdout).
 */
export async function startApp (t: Test, options: EstatusOptions = {}, dir?: string, host: { log?: Writable } = {}): Promise<Running> {
  // Teardowns run in order: the app must be closed before its folder goes.
  const ownDir = dir === undefined
  dir ??= await mkdtemp(join(tmpdir(), 'estatus-'))
  const dataFile = options.dataFile ?? join(dir, 'estatus.json')
  const logger = host.log === undefined ? { level: process.env.TEST_LOG_LEVEL ?? 'silent' } : { level: 'info', stream: host.log }
  const app = Fastify({ logger, forceCloseConnections: true })
  await app.register(estatus, { ...options, dataFile })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => {
    await app.close()
    if (ownDir) await rm(dir, { recursive: true, force: true })
  })
  const address = app.server.address()
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  return {
    app,
    url,
    dataFile,
    dir,
    call: (method, path, body, headers) => call(url, method, path, body, headers),
    fileText: () => settledFileText(app, dataFile)
  }
}

export const validServer = (overrides: Record<string, unknown> = {}) => ({
  name: 'web-1',
  ip: '10.1.2.3',
  dnsAddress: '127.0.0.2',
  ...overrides
})
