/**
 * A real Net-SNMP `snmpd` for tests: `snmpd -f -Lo -C -c <conf>` on 127.0.0.1 at a high
 * UDP port with a generated read-only community, plus `snmpget` / `snmpwalk` wrappers that
 * use numeric OIDs only (no MIB loading) and never touch /var/lib/snmp.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { which } from './netns.ts'
import { freeUdpPort } from './ports.ts'
import { sleep, timeLimit } from './wait.ts'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'

const execFileP = promisify(execFile)
const SETPRIV = which('setpriv')
/**
 * snmpd through setpriv where it exists (it execs, so the pid stays snmpd's): snmpd gets
 * SIGKILL when the process that started it dies, also when that one runs no teardown.
 */
const SNMPD = SETPRIV === null ? ['snmpd'] : [SETPRIV, '--pdeathsig', 'SIGKILL', '--', 'snmpd']

export const snmpEnv = (dir: string): NodeJS.ProcessEnv => ({
  ...process.env,
  SNMP_PERSISTENT_DIR: join(dir, 'persist'), // never touch /var/lib/snmp
  MIBS: '', // numeric OIDs only: no MIB loading, no warnings
  MIBDIRS: join(dir, 'no-mibs')
})

export interface SnmpAgentAddress { port: number, community: string, dir: string }

export interface Snmpd extends SnmpAgentAddress {
  proc: ChildProcess
  /** Stops the agent (SIGTERM, then SIGKILL) and removes its temp dir; safe to call twice. */
  stop: () => Promise<void>
}

/** snmpget with numeric OIDs; one printed value per requested OID. */
export async function snmpget (agent: SnmpAgentAddress, oids: string[]): Promise<string[]> {
  const { stdout } = await execFileP('snmpget', [
    '-v2c', '-c', agent.community, '-On', '-Oqv', '-Oe', '-OU', '-t', '1', '-r', '1',
    `127.0.0.1:${agent.port}`, ...oids
  ], { env: snmpEnv(agent.dir) })
  return stdout.split('\n').filter(l => l !== '')
}

/** snmpwalk with numeric OIDs: `[oid, value]` pairs. */
export async function snmpwalk (agent: SnmpAgentAddress, oid: string): Promise<Array<[string, string]>> {
  const { stdout } = await execFileP('snmpwalk', ['-v2c', '-c', agent.community, '-On', '-Oq', '-Oe', '-OU', '-t', '1', '-r', '1',
    `127.0.0.1:${agent.port}`, oid], { env: snmpEnv(agent.dir) })
  return stdout.split('\n').filter(l => l !== '').map((l) => {
    const sp = l.indexOf(' ')
    return [l.slice(0, sp), l.slice(sp + 1)]
  })
}

export interface StartSnmpdOptions {
  /** Listen on this port (e.g. to restart an agent where it was); default a free one. */
  port?: number
  /** Default a random `c<hex>`. */
  community?: string
}

/** Start `snmpd -f -Lo -C -c <conf>` on 127.0.0.1; resolves once it answers. */
export async function startSnmpd (options: StartSnmpdOptions = {}): Promise<Snmpd> {
  let lastError = ''
  for (let attempt = 0; attempt < 5; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'snmpd-test-'))
    const port = options.port ?? await freeUdpPort()
    const community = options.community ?? 'c' + randomBytes(6).toString('hex')
    const conf = join(dir, 'snmpd.conf')
    await writeFile(conf, `agentAddress udp:127.0.0.1:${port}\nrocommunity ${community} 127.0.0.1\n`)
    // -f stay in the foreground, -Lo log to stdout, -C read no other config file,
    // -c our config, -p a pid file in the temp dir.
    const proc = spawn(SNMPD[0]!, [...SNMPD.slice(1), '-f', '-Lo', '-C', '-c', conf, '-p', join(dir, 'snmpd.pid')], {
      env: snmpEnv(dir), stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    proc.stdout?.on('data', (d: Buffer) => { output += d.toString() })
    proc.stderr?.on('data', (d: Buffer) => { output += d.toString() })
    let exited = false
    const exit = new Promise<void>(resolve => proc.once('exit', () => { exited = true; resolve() }))
    proc.once('error', (err) => { output += String(err) })
    const stop = async (): Promise<void> => {
      if (!exited) { proc.kill('SIGTERM'); await Promise.race([exit, timeLimit(3000)]) }
      if (!exited) { proc.kill('SIGKILL'); await exit }
      await rm(dir, { recursive: true, force: true })
    }
    const deadline = Date.now() + 8000
    // eslint-disable-next-line no-unmodified-loop-condition -- set by the exit listener while this loop awaits
    while (!exited && Date.now() < deadline) {
      try {
        await snmpget({ port, community, dir }, ['1.3.6.1.2.1.1.3.0']) // sysUpTime.0
        return { port, community, dir, proc, stop }
      } catch { await sleep(100) }
    }
    lastError = `snmpd did not answer on udp 127.0.0.1:${port}: ${output.slice(-500)}`
    await stop()
    // A port that was asked for may still be held by the agent just stopped: wait a little.
    if (options.port !== undefined) await sleep(500)
  }
  throw new Error(lastError)
}
