/**
 * The orchestrator's own HTTP to the servers it measures: node:http, one kept-alive
 * connection per server, so that its requests queue one after the other as a client's would.
 */
import type { ChildProcess } from 'node:child_process'
import { request, Agent } from 'node:http'
import { sleep } from '../../test/support/wait.ts'

const agent = new Agent({ keepAlive: true, maxSockets: 1 })

export interface Answer { status: number, text: string }

export async function httpCall (port: number, method: string, path: string, body?: string, timeoutMs = 10_000): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** `data` of an enveloped 2xx answer; throws with the answer otherwise. */
export async function httpData<T> (port: number, method: string, path: string, body?: unknown): Promise<T> {
  const answer = await httpCall(port, method, path, body === undefined ? undefined : JSON.stringify(body))
  if (answer.status < 200 || answer.status > 299) throw new Error(`${method} ${path} answered ${answer.status}: ${answer.text.slice(0, 200)}`)
  return (JSON.parse(answer.text) as { data: T }).data
}

/** Polls `/health` until it answers 200; rejects when `server` exits first or after `timeoutMs`. */
export async function waitHealthy (port: number, server: ChildProcess, timeoutMs: number, lastWords: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) throw new Error(`the server exited at start: ${lastWords()}`)
    try {
      if ((await httpCall(port, 'GET', '/health')).status === 200) return
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`the server did not answer /health within ${timeoutMs / 1000} s: ${lastWords()}`)
    await sleep(100)
  }
}

/** Opens one event stream, waits for a frame containing `marker`, closes it. */
export async function warmStream (port: number, marker: string, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/events', agent: false, headers: { accept: 'text/event-stream' } }, res => {
      let seen = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        seen += chunk
        if (seen.includes(marker)) { req.destroy(); resolve() }
      })
      res.on('error', () => { /* destroyed */ })
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error('warm-up stream: no ready frame')))
    req.on('error', err => { if (err.message !== 'socket hang up') reject(err) })
    req.end()
  })
}
