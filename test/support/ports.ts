import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'

/** A TCP port on 127.0.0.1 that was free a moment ago (bound to 0, read, released). */
export async function freePort (): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve))
  const address = probe.address()
  await new Promise(resolve => probe.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A UDP port on 127.0.0.1 that was free a moment ago (bound to 0, read, released). */
export async function freeUdpPort (): Promise<number> {
  const probe = createSocket('udp4')
  await new Promise<void>((resolve, reject) => { probe.once('error', reject); probe.bind(0, '127.0.0.1', () => resolve()) })
  const port = probe.address().port
  await new Promise<void>(resolve => probe.close(() => resolve()))
  return port
}
