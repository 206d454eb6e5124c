/**
 * A throw-away PostgreSQL cluster for tests (NOTES.md, "PostgreSQL in tests"): `initdb` in a
 * temp dir, the `postgres` server started directly (not daemonised by pg_ctl) on 127.0.0.1
 * at a free port, as the `postgres` user when we are root (initdb and postgres refuse root).
 * Through `setpriv --pdeathsig SIGKILL` the server dies with the test file that started it,
 * also when that one runs no teardown; `stop()` ends it and removes the directory.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { chown, mkdtemp, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort } from './ports.ts'
import { sleep, timeLimit } from './wait.ts'

const execFileP = promisify(execFile)

/** Debian's binaries (the `postgresql` package); the newest version installed. */
function binDir (): string {
  for (const version of ['17', '16', '15', '14', '13']) {
    const dir = `/usr/lib/postgresql/${version}/bin`
    if (existsSync(join(dir, 'postgres'))) return dir
  }
  throw new Error('PostgreSQL is not installed (apt-get install postgresql): /usr/lib/postgresql/*/bin/postgres not found')
}

const asRoot = process.getuid?.() === 0
/** Runs as the `postgres` user when we are root; `--pdeathsig` where asked. */
function command (program: string, args: string[], pdeathsig = false): [string, string[]] {
  const prefix = [
    ...(asRoot ? ['--reuid', 'postgres', '--regid', 'postgres', '--init-groups'] : []),
    ...(pdeathsig ? ['--pdeathsig', 'SIGKILL'] : [])
  ]
  return prefix.length === 0 ? [program, args] : ['setpriv', [...prefix, '--', program, ...args]]
}

export interface PostgresCluster {
  port: number
  dir: string
  /** `postgres://postgres@127.0.0.1:<port>/<database>` */
  url (database?: string): string
  /** A new empty database; returns its URL. */
  createDatabase (name: string): Promise<string>
  /** Stops the server (immediate shutdown: as a crash looks to clients); the data stays for `start`. */
  pause (): Promise<void>
  /** Starts it again on the same port and data after `pause`. */
  start (): Promise<void>
  /** Stops the server and removes its directory; safe to call twice. */
  stop (): Promise<void>
}

/** initdb + start; resolves once it accepts connections. */
export async function startPostgres (): Promise<PostgresCluster> {
  const bin = binDir()
  const dir = await mkdtemp(join(tmpdir(), 'estatus-pg-'))
  if (asRoot) {
    const { uid, gid } = await idsOf('postgres')
    await chown(dir, uid, gid)
  }
  const data = join(dir, 'data')
  const [initdb, initArgs] = command(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync'])
  await execFileP(initdb, initArgs)
  const port = await freePort()
  let proc: ChildProcess | null = null
  let exited: Promise<void> = Promise.resolve()
  let output = ''

  async function start () {
    // fsync off: a throw-away cluster needs no durability against power loss, and tests run faster.
    // (Commits stay synchronous: a test that stops the server as in a crash must not lose acknowledged ones.)
    const [postgres, args] = command(join(bin, 'postgres'), [
      '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
      '-c', 'full_page_writes=off', '-c', 'max_connections=200'
    ], true)
    const child = spawn(postgres, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    proc = child
    output = ''
    child.stdout?.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-4000) })
    child.stderr?.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-4000) })
    exited = new Promise(resolve => child.once('exit', () => { proc = null; resolve() }))
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      if (proc === null) throw new Error(`postgres exited at start: ${output}`)
      const client = new pg.Client({ connectionString: url('postgres') })
      try {
        await client.connect()
        await client.end()
        return
      } catch {
        await client.end().catch(() => {})
        await sleep(100)
      }
    }
    throw new Error(`postgres did not accept connections on 127.0.0.1:${port}: ${output}`)
  }

  async function pause () {
    const child = proc
    if (child === null) return
    // SIGQUIT: immediate shutdown, connections cut as in a crash.
    child.kill('SIGQUIT')
    await Promise.race([exited, timeLimit(5000)])
    if (proc !== null) { child.kill('SIGKILL'); await exited }
  }

  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`

  try {
    await start()
  } catch (err) {
    await pause()
    await rm(dir, { recursive: true, force: true })
    throw err
  }

  let stopped = false
  return {
    port,
    dir,
    url,
    async createDatabase (name) {
      const client = new pg.Client({ connectionString: url('postgres') })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`)
      } finally {
        await client.end()
      }
      return url(name)
    },
    pause,
    start,
    async stop () {
      if (stopped) return
      stopped = true
      await pause()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

async function idsOf (user: string): Promise<{ uid: number, gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([execFileP('id', ['-u', user]), execFileP('id', ['-g', user])])
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) }
}
