import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'

export const run = promisify(execFile)

export function which (cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin'])) {
    try {
      accessSync(join(dir, cmd), constants.X_OK)
      return join(dir, cmd)
    } catch { /* not here */ }
  }
  return null
}

/** Why the namespace tests cannot run here, or false when they can. */
export function netnsSkipReason (): string | false {
  if (which('ip') === null) return '`ip` not found: install the Debian package iproute2'
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (ip netns add)'
  return false
}

export interface TestHosts {
  ip: string
  /** The namespace the prober runs in. */
  proberNs: string
  /** The test host's address, reachable from the prober's namespace only. */
  hostAddress: string
  /** Every address of the test host (`hostCount`), the first being `hostAddress`; all go down with the link. */
  hostAddresses: string[]
  /** An fping that runs inside the prober's namespace (`ip netns exec` execs, so its pid stays fping's). */
  fpingWrapper: string
  linkDown (): Promise<void>
  linkUp (): Promise<void>
  /**
   * The host's addresses removed and put back, its link staying up: the hosts die, not the
   * prober's link (with the link down the prober's side loses carrier, and the kernel holds
   * fping's sends to it for seconds, stalling its other targets too).
   */
  addressesDown (): Promise<void>
  addressesUp (): Promise<void>
}

/**
 * Two network namespaces joined by a veth pair: the prober's and a test host's. Both ends
 * live in namespaces this test made, so the machine's own routing is untouched and no
 * packet can leave it. Everything is removed at teardown, also after a failure.
 */
export async function createTestHosts (t: { teardown (fn: () => unknown): void }, options: { hostCount?: number } = {}): Promise<TestHosts> {
  const ip = which('ip') ?? 'ip'
  const fping = which('fping') ?? 'fping'
  const id = randomBytes(3).toString('hex')
  const proberNs = `esp${id}`
  const hostNs = `esh${id}`
  // The smallest block of 10.213.0.0/16 that holds the prober and the host's addresses (a /30 for one).
  const hostCount = options.hostCount ?? 1
  const prefix = 32 - Math.max(2, Math.ceil(Math.log2(hostCount + 3)))
  if (prefix < 16) throw new Error(`createTestHosts: at most 65533 host addresses, not ${hostCount}`)
  const size = 2 ** (32 - prefix)
  const base = ((10 << 24) | (213 << 16)) + size * (randomBytes(2).readUInt16BE() % (65536 / size))
  const address = (offset: number) => [24, 16, 8, 0].map(shift => ((base + offset) >>> shift) & 255).join('.')
  const proberAddress = address(1)
  const hostAddresses = Array.from({ length: hostCount }, (_, i) => address(i + 2))
  const hostAddress = hostAddresses[0]!
  const dir = mkdtempSync(join(tmpdir(), 'estatus-netns-'))
  t.teardown(async () => {
    rmSync(dir, { recursive: true, force: true })
    for (const ns of [proberNs, hostNs]) await run(ip, ['netns', 'del', ns]).catch(() => {})
  })
  await run(ip, ['netns', 'add', proberNs])
  await run(ip, ['netns', 'add', hostNs])
  await run(ip, ['link', 'add', `va${id}`, 'netns', proberNs, 'type', 'veth', 'peer', 'name', `vb${id}`, 'netns', hostNs])
  await run(ip, ['-n', proberNs, 'addr', 'add', `${proberAddress}/${prefix}`, 'dev', `va${id}`])
  // One `ip` for every address: a thousand of them take a moment, not a thousand processes.
  const batch = join(dir, 'addresses')
  writeFileSync(batch, hostAddresses.map(host => `addr add ${host}/${prefix} dev vb${id}\n`).join(''))
  const addAddresses = () => run(ip, ['-n', hostNs, '-batch', batch])
  await addAddresses()
  for (const [ns, dev] of [[proberNs, `va${id}`], [hostNs, `vb${id}`], [proberNs, 'lo'], [hostNs, 'lo']] as const) {
    await run(ip, ['-n', ns, 'link', 'set', dev, 'up'])
  }
  // Permanent neighbour entries on the prober's side: a host that dies is a plain timeout,
  // with no ARP retries in between (the kernel's re-resolution bunches fping's output).
  const [hostLink] = JSON.parse((await run(ip, ['-n', hostNs, '-j', 'link', 'show', `vb${id}`])).stdout) as Array<{ address: string }>
  const neighbours = join(dir, 'neighbours')
  writeFileSync(neighbours, hostAddresses.map(host => `neigh replace ${host} lladdr ${hostLink!.address} dev va${id} nud permanent\n`).join(''))
  await run(ip, ['-n', proberNs, '-batch', neighbours])
  const fpingWrapper = join(dir, 'fping')
  writeFileSync(fpingWrapper, `#!/bin/sh\nexec ${ip} netns exec ${proberNs} ${fping} "$@"\n`, { mode: 0o755 })
  return {
    ip,
    proberNs,
    hostAddress,
    hostAddresses,
    fpingWrapper,
    linkDown: async () => { await run(ip, ['-n', hostNs, 'link', 'set', `vb${id}`, 'down']) },
    linkUp: async () => { await run(ip, ['-n', hostNs, 'link', 'set', `vb${id}`, 'up']) },
    addressesDown: async () => { await run(ip, ['-n', hostNs, 'addr', 'flush', 'dev', `vb${id}`]) },
    addressesUp: async () => { await addAddresses() }
  }
}
