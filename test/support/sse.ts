/**
 * The one event-stream frame parser of the suite, and the small client built on it. The
 * server writes `\n` line ends and one blank line after each frame (SPEC §5), so a frame is
 * what stands before a `\n\n`; the parser is strict about the `id: ` / `data: ` spelling so
 * that a test can see any other line.
 */
import { request } from 'node:http'
import type { StreamMessage } from '../../schemas/events.ts'

export interface SseFrame {
  /** The frame as sent, without the blank line after it. */
  text: string
  /** The value of its (last) `id: ` line; undefined without one. */
  id: string | undefined
  /** How many `id: ` lines it had. */
  ids: number
  /** The values of its `data: ` lines, in order. */
  data: string[]
  /** Its lines that are neither `id: ` nor `data: `. */
  other: string[]
}

export function parseFrame (text: string): SseFrame {
  const frame: SseFrame = { text, id: undefined, ids: 0, data: [], other: [] }
  for (const line of text.split('\n')) {
    if (line.startsWith('id: ')) { frame.id = line.slice(4); frame.ids++ } else if (line.startsWith('data: ')) frame.data.push(line.slice(6))
    else frame.other.push(line)
  }
  return frame
}

/** Feeds decoded text in as it arrives; calls `onFrame` for every complete frame, in order. */
export function frameReader (onFrame: (frame: SseFrame) => void): (text: string) => void {
  let pending = ''
  return text => {
    pending += text
    for (let end = pending.indexOf('\n\n'); end !== -1; end = pending.indexOf('\n\n')) {
      const frame = pending.slice(0, end)
      pending = pending.slice(end + 2)
      onFrame(parseFrame(frame))
    }
  }
}

export interface RawEventClient {
  /** Every message received so far, parsed, in order. */
  messages: Array<StreamMessage & { id?: string }>
  /** The raw bytes received so far. */
  raw (): string
  close (): void
  /** Resolves when the server ends the stream. */
  ended: Promise<void>
}

/** A minimal event-stream client over node:http that keeps what it received, bytes included. */
export function connectEvents (url: string, headers: Record<string, string> = {}): Promise<RawEventClient> {
  return new Promise((resolve, reject) => {
    const chunks: string[] = []
    const messages: RawEventClient['messages'] = []
    const read = frameReader(({ id, data }) => {
      const text = data.join('\n')
      if (text) messages.push({ ...JSON.parse(text), ...(id === undefined ? {} : { id }) })
    })
    let endStream!: () => void
    const ended = new Promise<void>(resolve => { endStream = resolve })
    const req = request(url + '/api/events', { headers: { accept: 'text/event-stream', ...headers } }, res => {
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        chunks.push(chunk)
        read(chunk)
      })
      res.on('end', endStream)
      res.on('close', endStream)
      res.on('error', endStream) // 'aborted' when we close it ourselves
      resolve({ messages, raw: () => chunks.join(''), close: () => req.destroy(), ended })
    })
    req.on('error', err => { endStream(); reject(err) })
    req.end()
  })
}
