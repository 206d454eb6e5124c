/** Longest line kept while waiting for its newline. */
const MAX_LINE = 4096

interface PipeHandle { readStart (): number, readStop (): number }

/**
 * Splits a child's pipe into lines. With batchMs > 0 the pipe is read in batches: after each
 * chunk the stream's libuv handle stops reading for batchMs (output waits in the pipe buffer,
 * 64 KiB, ~400 ms of output at 2,500 lines/s) and starts again, so a busy fping wakes the event
 * loop ~1000/batchMs times a second instead of once per line (fping line-buffers: one write()
 * per echo). readStop/readStart are the (undocumented) methods of the handle behind every
 * Node pipe; without them, reading is plain flowing mode. Returns a function that reads on
 * right away (e.g. to see the end of a process' output).
 */
export function readLines (stream: NodeJS.ReadableStream | null, onLine: (line: string) => void, batchMs = 0): () => void {
  if (stream === null) return () => {}
  let buf = ''
  stream.setEncoding('utf8')
  const handle = (stream as unknown as { _handle?: Partial<PipeHandle> | null })._handle
  const canBatch = batchMs > 0 && typeof handle?.readStop === 'function' && typeof handle.readStart === 'function'
  let stopped = false
  let timer: NodeJS.Timeout | null = null
  const restart = (): void => {
    if (timer !== null) { clearTimeout(timer); timer = null }
    if (!stopped) return
    stopped = false
    const current = (stream as unknown as { _handle?: unknown })._handle
    if (current !== handle || (stream as unknown as { destroyed?: boolean }).destroyed === true) return
    try { (handle as PipeHandle).readStart() } catch { /* closed meanwhile */ }
  }
  stream.on('data', (chunk: string) => {
    if (canBatch && !stopped) {
      stopped = true
      try { (handle as PipeHandle).readStop() } catch { /* closed meanwhile */ }
      timer = setTimeout(restart, batchMs)
    }
    buf += chunk
    let start = 0
    let nl: number
    while ((nl = buf.indexOf('\n', start)) >= 0) {
      onLine(buf.slice(start, nl))
      start = nl + 1
    }
    buf = buf.slice(start)
    if (buf.length > MAX_LINE) buf = '' // no newline in sight: garbage, drop it
  })
  stream.on('error', () => { /* the process' exit is handled elsewhere */ })
  return restart
}
