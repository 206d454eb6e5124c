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
  /** An fping that runs inside the prober's namespace (`ip netns exec` execs, so its pid stays fping's). */
  fpingWrapper: string
  linkDown (): Promise<void>
  linkUp (): Promise<void>
}

/**
 * Two network namespaces joined by a veth pair: the prober's and a test host's. Both ends
 * live in namespaces this test made, so the machine's own routing is untouched and no
 * packet can leave it. Everything is removed at teardown, also after a failure.
 */
export async function createTestHosts (t: { teardown (fn: () => unknown): void }): Promise<TestHosts> {
  const ip = which('ip') ?? 'ip'
  const fping = which('fping') ?? 'fping'
  const id = randomBytes(3).toString('hex')
  const proberNs = `esp${id}`
  const hostNs = `esh${id}`
  const subnet = [10, 213, randomBytes(1)[0]!, 4 * (randomBytes(1)[0]! % 64)]
  const proberAddress = subnet.slice(0, 3).concat(subnet[3]! + 1).join('.')
  const hostAddress = subnet.slice(0, 3).concat(subnet[3]! + 2).join('.')
  const dir = mkdtempSync(join(tmpdir(), 'estatus-netns-'))
  t.teardown(async () => {
    rmSync(dir, { recursive: true, force: true })
    for (const ns of [proberNs, hostNs]) await run(ip, ['netns', 'del', ns]).catch(() => {})
  })
  await run(ip, ['netns', 'add', proberNs])
  await run(ip, ['netns', 'add', hostNs])
  await run(ip, ['link', 'add', `va${id}`, 'netns', proberNs, 'type', 'veth', 'peer', 'name', `vb${id}`, 'netns', hostNs])
  await run(ip, ['-n', proberNs, 'addr', 'add', `${proberAddress}/30`, 'dev', `va${id}`])
  await run(ip, ['-n', hostNs, 'addr', 'add', `${hostAddress}/30`, 'dev', `vb${id}`])
  for (const [ns, dev] of [[proberNs, `va${id}`], [hostNs, `vb${id}`], [proberNs, 'lo'], [hostNs, 'lo']] as const) {
    await run(ip, ['-n', ns, 'link', 'set', dev, 'up'])
  }
  const fpingWrapper = join(dir, 'fping')
  writeFileSync(fpingWrapper, `#!/bin/sh\nexec ${ip} netns exec ${proberNs} ${fping} "$@"\n`, { mode: 0o755 })
  return {
    ip,
    proberNs,
    hostAddress,
    fpingWrapper,
    linkDown: async () => { await run(ip, ['-n', hostNs, 'link', 'set', `vb${id}`, 'down']) },
    linkUp: async () => { await run(ip, ['-n', hostNs, 'link', 'set', `vb${id}`, 'up']) }
  }
}
