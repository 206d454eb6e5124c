// Child process of bench/sse.ts and bench/cluster.ts (through bench/support/fan-out.ts): holds
// many raw HTTP/1.1 event-stream connections and records when each `serverAdded` frame
// arrives. Driven over IPC:
//   parent → {cmd:'connect', ...}  opens `count` streams (at most `concurrency` not yet
//                                   ready at a time), answers {ev:'ready'} when every one
//                                   got its ready frame (`initial`, or `connected` for the
//                                   reference), and {ev:'complete'} when every live stream
//                                   got all `events` frames;
//   parent → {cmd:'finish', file}   writes the receive times (Float64Array, stream-major,
//                                   NaN = not received) to `file`, answers {ev:'stats'}, exits.
// Times are process.hrtime (CLOCK_MONOTONIC, shared by every process of the machine), in ms.
// Order: each stream hashes the event ids of its serverAdded frames in arrival order (FNV-1a),
// and the stats count the streams that got every event per hash — one hash: one order for all;
// an id not above the stream's previous one counts as a regression.
// Parsing is minimal on purpose: the body is scanned for `data: ` lines (each write of the
// server is one HTTP chunk, so chunk-size lines never split a frame line); a serverAdded
// frame is matched to its request by the name `bench-NNNN`, NNNN = request index.
import { connect, type Socket } from 'node:net'
import { writeFileSync } from 'node:fs'

export interface ConnectCommand {
  cmd: 'connect'
  host: string
  port: number
  count: number
  localAddresses: string[]
  events: number
  readyOn: 'initial' | 'connected'
  concurrency: number
}
export interface FinishCommand { cmd: 'finish', file: string }
export type ClientCommand = ConnectCommand | FinishCommand

export interface ClientStats {
  ready: number
  failed: number
  firstError: string | null
  closedEarly: number
  duplicates: number
  unknown: number
  other: number
  complete: number
  /** Bytes of the first serverAdded `data:` line seen (without its newline). */
  dataLineBytes: number
  /** Streams that got every event, by the hash of the ids of their serverAdded frames in arrival order. */
  orders: Record<string, number>
  /** Frames whose id was not above the previous id on the same stream. */
  idRegressions: number
}
export type ClientMessage =
  | { ev: 'hello' }
  | { ev: 'ready', t: number, ready: number, failed: number, firstError: string | null }
  | { ev: 'complete', t: number }
  | { ev: 'stats', stats: ClientStats }

const now = (): number => Number(process.hrtime.bigint()) / 1e6
const FNV_OFFSET = 0x811c9dc5
/** FNV-1a of `text` and a separator, continuing from `hash`. */
function fnv1a (hash: number, text: string): number {
  for (let k = 0; k < text.length; k++) hash = Math.imul(hash ^ text.charCodeAt(k), 0x01000193) >>> 0
  return Math.imul(hash ^ 0x2c, 0x01000193) >>> 0
}
const send = (message: ClientMessage, done?: () => void): void => {
  if (process.send !== undefined) process.send(message, undefined, undefined, done === undefined ? undefined : () => done())
}

// The parent going away ends us too.
process.on('disconnect', () => process.exit(0))

let sockets: Socket[] = []
let finishing = false

function run (c: ConnectCommand): { finish: (file: string) => void } {
  const E = c.events
  const recv = new Float64Array(c.count * E).fill(NaN)
  const got = new Uint32Array(c.count)
  const order = new Uint32Array(c.count).fill(FNV_OFFSET)
  const request = `GET /api/events HTTP/1.1\r\nHost: ${c.host}:${c.port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`
  const stats: ClientStats = { ready: 0, failed: 0, firstError: null, closedEarly: 0, duplicates: 0, unknown: 0, other: 0, complete: 0, dataLineBytes: 0, orders: {}, idRegressions: 0 }
  let opened = 0
  let readySent = false
  let completeSent = false
  sockets = new Array<Socket>(c.count)

  function settled (): void {
    if (!readySent && stats.ready + stats.failed === c.count) {
      readySent = true
      send({ ev: 'ready', t: now(), ready: stats.ready, failed: stats.failed, firstError: stats.firstError })
    }
    checkComplete()
  }
  function checkComplete (): void {
    if (readySent && !completeSent && stats.complete >= stats.ready - stats.closedEarly) {
      completeSent = true
      send({ ev: 'complete', t: now() })
    }
  }
  function openNext (): void {
    if (opened < c.count) open(opened++)
  }

  function open (i: number): void {
    const sock = connect({ host: c.host, port: c.port, localAddress: c.localAddresses[i % c.localAddresses.length] })
    sockets[i] = sock
    sock.setNoDelay(true)
    let inHeader = true
    let pending = ''
    let ready = false
    let failed = false
    let id = ''
    let lastId = -Infinity
    const fail = (why: string): void => {
      if (ready || failed) return
      failed = true
      stats.failed++
      stats.firstError ??= why
      sock.destroy()
      openNext()
      settled()
    }
    const onDataLine = (s: string, p: number, end: number, t: number): void => {
      if (s.startsWith('{"type":"serverAdded"', p)) {
        const q = s.indexOf('"name":"bench-', p)
        const idx = q < 0 || q > end ? NaN : Number(s.substring(q + 14, q + 18))
        if (!(idx >= 0 && idx < E)) { stats.unknown++; return }
        if (stats.dataLineBytes === 0) stats.dataLineBytes = end - p + 6
        const k = i * E + idx
        if (!Number.isNaN(recv[k])) { stats.duplicates++; return }
        recv[k] = t
        order[i] = fnv1a(order[i] as number, id)
        if (++got[i] === E) { stats.complete++; checkComplete() }
      } else if (s.startsWith('{"type":"initial"', p)) {
        if (c.readyOn === 'initial') markReady()
      } else if (s.startsWith('{"type":"connected"', p)) {
        if (c.readyOn === 'connected') markReady()
      } else {
        stats.other++
      }
    }
    const markReady = (): void => {
      if (ready) return
      ready = true
      stats.ready++
      openNext()
      settled()
    }
    sock.on('connect', () => { sock.write(request) })
    sock.on('data', (buf: Buffer) => {
      const t = now()
      let s = pending.length === 0 ? buf.toString('latin1') : pending + buf.toString('latin1')
      let start = 0
      if (inHeader) {
        const end = s.indexOf('\r\n\r\n')
        if (end < 0) { pending = s; return }
        if (!s.startsWith('HTTP/1.1 200')) { fail(`status line: ${s.slice(0, s.indexOf('\r\n'))}`); return }
        inHeader = false
        start = end + 4
      }
      for (;;) {
        const nl = s.indexOf('\n', start)
        if (nl < 0) break
        if (s.startsWith('data: ', start)) onDataLine(s, start + 6, nl, t)
        else if (s.startsWith('id: ', start)) {
          id = s.substring(start + 4, nl)
          if (!(Number(id) > lastId)) stats.idRegressions++
          lastId = Number(id)
        }
        start = nl + 1
      }
      pending = start >= s.length ? '' : s.slice(start)
      s = ''
    })
    sock.on('error', (err) => { fail(err.message) })
    sock.on('close', () => {
      if (!ready) fail('closed before the ready frame')
      else if (!finishing) { stats.closedEarly++; checkComplete() }
    })
  }

  for (let k = 0; k < Math.min(c.concurrency, c.count); k++) openNext()
  if (c.count === 0) settled()

  return {
    finish (file: string) {
      finishing = true
      for (let i = 0; i < c.count; i++) {
        if (got[i] === E) stats.orders[order[i] as number] = (stats.orders[order[i] as number] ?? 0) + 1
      }
      writeFileSync(file, new Uint8Array(recv.buffer, recv.byteOffset, recv.byteLength))
      send({ ev: 'stats', stats }, () => {
        for (const sock of sockets) sock?.destroy()
        setImmediate(() => process.exit(0))
      })
    }
  }
}

let current: { finish: (file: string) => void } | null = null
process.on('message', (m: ClientCommand) => {
  if (m.cmd === 'connect') current = run(m)
  else if (m.cmd === 'finish') {
    if (current !== null) current.finish(m.file)
    else process.exit(0)
  }
})
send({ ev: 'hello' })
