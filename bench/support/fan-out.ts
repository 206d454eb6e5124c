/**
 * The SSE fan-out measurement of bench/sse.ts and bench/cluster.ts: client processes
 * (bench/sse-client.ts) holding the streams, create+delete pairs sent one change at a time,
 * and the latency of every client × event pair read back from the clients' files.
 *
 * Latency = a client's receive time of the matching `serverAdded` frame − the time the POST
 * was sent. Clock: process.hrtime (CLOCK_MONOTONIC, shared by all processes of the machine).
 */
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sleep } from '../../test/support/wait.ts'
import type { BenchChildren } from './children.ts'
import { fmtInt } from './format.ts'
import { httpCall } from './http.ts'
import type { ClientCommand, ClientMessage, ClientStats, ConnectCommand } from '../sse-client.ts'

/**
 * The protocol both benches run, so that their figures compare: 200 create+delete pairs at
 * least 20 ms apart; 16 loopback source addresses per client process (clear of ephemeral-port
 * exhaustion and TIME_WAIT); at most 200 streams not yet ready at a time; a warm-up of 3 POSTs
 * and 20 short-lived streams per server.
 */
export const FAN_OUT = { events: 200, spacingMs: 20, sourcesPerProcess: 16, connectConcurrency: 200, warmupPosts: 3, warmupStreams: 20 } as const

export const now = (): number => Number(process.hrtime.bigint()) / 1e6

export const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number

/** Settles when `register` calls done or fail (event-driven, no polling), or rejects after `ms`. */
function settleWithin<M> (what: string, ms: number, register: (done: (value: M) => void, fail: (err: Error) => void) => () => void): Promise<M> {
  return new Promise<M>((resolve, reject) => {
    let off = (): void => {}
    const timer = setTimeout(() => { off(); reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
    off = register(value => { clearTimeout(timer); off(); resolve(value) }, err => { clearTimeout(timer); off(); reject(err) })
  })
}

type Message<E extends ClientMessage['ev']> = Extract<ClientMessage, { ev: E }>

/**
 * Resolves with each client's message of `ev`, once all have sent it; rejects when a client
 * or one of `servers` dies first. Listens from the call on: call it before what triggers `ev`.
 */
export function fromAll<E extends ClientMessage['ev']> (clients: ChildProcess[], servers: ChildProcess[], ev: E, ms: number): Promise<Array<Message<E>>> {
  const waiting = settleWithin<Array<Message<E>>>(`every client's '${ev}'`, ms, (done, fail) => {
    const got = new Map<ChildProcess, Message<E>>()
    const listeners: Array<() => void> = []
    for (const client of clients) {
      const onMessage = (m: ClientMessage): void => {
        if (m.ev !== ev) return
        got.set(client, m as Message<E>)
        if (got.size === clients.length) done(clients.map(c => got.get(c) as Message<E>))
      }
      const onExit = (code: number | null, signal: string | null): void => {
        if (!got.has(client)) fail(new Error(`a client process exited (${code ?? signal}) before '${ev}'`))
      }
      client.on('message', onMessage)
      client.on('exit', onExit)
      listeners.push(() => { client.off('message', onMessage); client.off('exit', onExit) })
    }
    for (const server of servers) {
      const onServerExit = (code: number | null, signal: string | null): void => { fail(new Error(`a server exited (${code ?? signal}) while waiting for '${ev}'`)) }
      server.on('exit', onServerExit)
      listeners.push(() => { server.off('exit', onServerExit) })
    }
    return () => { for (const off of listeners) off() }
  })
  waiting.catch(() => {}) // awaited by the caller; this only keeps an early failure from being "unhandled"
  return waiting
}

/** Starts `count` client processes; resolves once each said hello. */
export async function startClients (children: BenchChildren, count: number, servers: ChildProcess[], timeoutMs: number): Promise<ChildProcess[]> {
  const clients = Array.from({ length: count }, () => children.start('bench/sse-client.ts', { ipc: true }))
  await fromAll(clients, servers, 'hello', timeoutMs)
  return clients
}

/** Where one client process opens its streams. */
export type StreamPlan = Pick<ConnectCommand, 'port' | 'count' | 'localAddresses'>

export interface Connected {
  /** From the first connect command until the last stream got its ready frame. */
  connectMs: number
  connected: number
  failed: number
  firstError: string | null
}

/** Sends each client its plan (`plans[k]` to `clients[k]`) and waits until every stream is ready or failed. */
export async function connectStreams (clients: ChildProcess[], servers: ChildProcess[], plans: StreamPlan[],
  options: { events: number, readyOn: ConnectCommand['readyOn'], concurrency: number, timeoutMs: number }): Promise<Connected> {
  const ready = fromAll(clients, servers, 'ready', options.timeoutMs)
  const t0 = now()
  clients.forEach((client, k) => {
    const plan = plans[k] as StreamPlan
    const command: ClientCommand = { cmd: 'connect', host: '127.0.0.1', ...plan, events: options.events, readyOn: options.readyOn, concurrency: options.concurrency }
    client.send(command)
  })
  const readies = await ready
  return {
    connectMs: Math.max(...readies.map(r => r.t)) - t0,
    connected: readies.reduce((sum, r) => sum + r.ready, 0),
    failed: readies.reduce((sum, r) => sum + r.failed, 0),
    firstError: readies.find(r => r.firstError !== null)?.firstError ?? null
  }
}

export interface Mutations {
  /** When each creating POST was sent. */
  sent: Float64Array
  /** Each creating POST's round trip. */
  rtt: Float64Array
}

/**
 * `events` create+delete pairs, one change at a time, pair i on `ports[i % ports.length]`:
 * `POST /api/config/servers` {name: bench-NNNN, dnsAddress: its own loopback address, so that
 * every change changes fping's targets}, then `DELETE` of it (before the monitor could flip
 * it: no statusChange traffic). Pairs at least `spacingMs` apart.
 */
export async function createAndDelete (ports: number[], events: number, spacingMs: number, timeoutMs: number): Promise<Mutations> {
  const sent = new Float64Array(events)
  const rtt = new Float64Array(events)
  let next = now()
  for (let i = 0; i < events; i++) {
    const port = ports[i % ports.length] as number
    const wait = next - now()
    if (wait > 0) await sleep(wait)
    const address = `10.1.${i >> 8}.${(i & 255) + 1}`
    const body = JSON.stringify({ name: `bench-${String(i).padStart(4, '0')}`, ip: address, dnsAddress: `127.${address.slice(3)}` })
    sent[i] = now()
    next = sent[i] as number + spacingMs
    const answer = await httpCall(port, 'POST', '/api/config/servers', body)
    rtt[i] = now() - (sent[i] as number)
    if (answer.status !== 201) throw new Error(`POST ${i} answered ${answer.status}: ${answer.text.slice(0, 200)}`)
    const id = String((JSON.parse(answer.text) as { data: { id: string } }).data.id)
    const removed = await httpCall(port, 'DELETE', `/api/config/servers/${encodeURIComponent(id)}`)
    if (removed.status !== 200) throw new Error(`DELETE ${i} answered ${removed.status}: ${removed.text.slice(0, 200)}`)
    if (now() - (sent[0] as number) > timeoutMs) throw new Error(`the ${events} mutations took longer than ${timeoutMs / 1000} s`)
  }
  return { sent, rtt }
}

/** Whether `complete` (every client's 'complete') came within `ms`; rethrows its other failures. */
export async function completeWithin (complete: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>(resolve => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([complete.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface Deliveries {
  delivered: number
  duplicates: number
  p50: number
  p99: number
  max: number
  /** Median over events of the earliest client's latency (the work before the fan-out starts). */
  firstP50: number
  /** Median over events of last − first client (the fan-out itself). */
  spreadP50: number
  /** Streams that got every event. */
  completeStreams: number
  /** Distinct arrival orders of the event ids among them (1: all saw one order). */
  orders: number
  idRegressions: number
  closedEarly: number
  unknown: number
  other: number
  /** Bytes of a serverAdded `data:` line. */
  dataLineBytes: number
}

/** Tells the clients to finish (they write their receive times into `dir` and exit) and computes the figures. */
export async function collectDeliveries (clients: ChildProcess[], servers: ChildProcess[], dir: string, sent: Float64Array, timeoutMs: number): Promise<Deliveries> {
  const events = sent.length
  const statsPromise = fromAll(clients, servers, 'stats', timeoutMs)
  const files = clients.map((client, k) => {
    const file = join(dir, `recv-${k}.bin`)
    client.send({ cmd: 'finish', file } satisfies ClientCommand)
    return file
  })
  const stats = (await statsPromise).map(m => m.stats)
  const sum = (key: keyof ClientStats): number => stats.reduce((acc, s) => acc + (s[key] as number), 0)
  const recvs = files.map(file => {
    const buf = readFileSync(file)
    return new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8)
  })
  const latencies = new Float64Array(recvs.reduce((n, recv) => n + recv.length, 0))
  const first = new Float64Array(events).fill(Infinity)
  const last = new Float64Array(events).fill(-Infinity)
  let delivered = 0
  for (const recv of recvs) {
    for (let k = 0; k < recv.length; k++) {
      const t = recv[k] as number
      if (Number.isNaN(t)) continue
      const e = k % events
      const latency = t - (sent[e] as number)
      latencies[delivered++] = latency
      if (latency < (first[e] as number)) first[e] = latency
      if (latency > (last[e] as number)) last[e] = latency
    }
  }
  const sorted = latencies.subarray(0, delivered).sort()
  const orders = new Map<string, number>()
  for (const s of stats) for (const [hash, count] of Object.entries(s.orders)) orders.set(hash, (orders.get(hash) ?? 0) + count)
  return {
    delivered,
    duplicates: sum('duplicates'),
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: delivered === 0 ? NaN : sorted[delivered - 1] as number,
    firstP50: percentile(first.slice().sort(), 0.5),
    spreadP50: percentile(first.map((f, e) => (last[e] as number) - f).sort(), 0.5),
    completeStreams: sum('complete'),
    orders: orders.size,
    idRegressions: sum('idRegressions'),
    closedEarly: sum('closedEarly'),
    unknown: sum('unknown'),
    other: sum('other'),
    dataLineBytes: Math.max(...stats.map(s => s.dataLineBytes))
  }
}

/** What a reader of the figures should know about the streams. */
export function streamNotes (d: Deliveries): string[] {
  return [
    ...(d.closedEarly > 0 ? [`${fmtInt(d.closedEarly)} streams closed by the server during the run`] : []),
    ...(d.unknown > 0 ? [`${fmtInt(d.unknown)} serverAdded frames matched no request`] : []),
    ...(d.other > 0 ? [`${fmtInt(d.other)} other data frames (ignored)`] : [])
  ]
}
