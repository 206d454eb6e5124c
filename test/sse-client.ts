import { request } from 'node:http'
import type { StreamMessage } from '../schemas/events.ts'

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
    let pending = ''
    let endStream!: () => void
    const ended = new Promise<void>(done => { endStream = done })
    const req = request(url + '/api/events', { headers: { accept: 'text/event-stream', ...headers } }, res => {
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        chunks.push(chunk)
        pending += chunk
        let boundary: number
        while ((boundary = pending.indexOf('\n\n')) !== -1) {
          const frame = pending.slice(0, boundary)
          pending = pending.slice(boundary + 2)
          let id: string | undefined
          let data = ''
          for (const line of frame.split('\n')) {
            if (line.startsWith('id: ')) id = line.slice(4)
            else if (line.startsWith('data: ')) data += line.slice(6)
          }
          if (data) messages.push({ ...JSON.parse(data), ...(id === undefined ? {} : { id }) })
        }
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
