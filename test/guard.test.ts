// No process the suite starts outlives it (test/support/parent-guard.ts, test-file-guard.ts,
// snmpd.ts): a stand-in test file (support/guarded-parent.ts) starts a server child, snmpd
// and a child of its own, and is then ended the three ways a test file ends without its
// teardown. Each time, what it started must be gone.
import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { tempDir } from './support/app.ts'
import { isAlive } from './support/proc.ts'
import { waitFor } from './support/wait.ts'

const STAND_IN = ['--import', 'tsx/esm', '--import', './test/support/test-file-guard.ts', 'test/support/guarded-parent.ts']
/** Generous for a loaded machine: the guard looks every 200 ms. */
const GONE_WITHIN_MS = 30000

interface Started { self: number, server: number, snmpd: number, own: number }

/**
 * Runs the stand-in as tap runs a test file: as the child of a runner (a plain node process
 * here), in a process group of their own that the teardown kills, whatever the test did.
 */
async function startStandIn (t: Pick<typeof import('tap').default, 'ok' | 'teardown'>) {
  const dataFile = join(await tempDir(t), 'estatus.json')
  const runner = spawn(process.execPath, ['-e', `
    const child = require('node:child_process').spawn(process.execPath, ${JSON.stringify([...STAND_IN, dataFile])}, { stdio: 'inherit' })
    child.on('exit', code => process.exit(code ?? 1))`], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { try { process.kill(-runner.pid!, 'SIGKILL') } catch { /* gone */ } })
  let output = ''
  runner.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const started: Started = JSON.parse(await waitFor(() => output.includes('\n') ? output.slice(0, output.indexOf('\n')) : null, 90000, 'the stand-in\'s children'))
  for (const [what, pid] of Object.entries(started)) t.ok(isAlive(pid), `${what} runs`)
  return { runner: runner.pid!, started }
}

const gone = (pids: number[], what: string) => waitFor(() => pids.every(pid => !isAlive(pid)), GONE_WITHIN_MS, what).then(() => true, () => false)

t.test('the runner SIGKILLed (tap killed): the test file ends and takes everything it started along', async t => {
  const { runner, started } = await startStandIn(t)
  process.kill(runner, 'SIGKILL')
  t.ok(await gone([started.self, started.server, started.snmpd, started.own], 'all gone'), 'the file, the server, snmpd and its own child are gone')
})

t.test('the test file SIGALRMed (tap\'s time-out): its children are SIGKILLed on the way out', async t => {
  const { started } = await startStandIn(t)
  process.kill(started.self, 'SIGALRM')
  t.ok(await gone([started.self, started.server, started.snmpd, started.own], 'all gone'), 'the file, the server, snmpd and its own child are gone')
})

t.test('the test file SIGKILLed: the server and snmpd end by themselves', async t => {
  const { started } = await startStandIn(t)
  process.kill(started.self, 'SIGKILL')
  // Its own plain child (like fping, which ends at its next output line on SIGPIPE) has no guard: the teardown ends it.
  t.ok(await gone([started.server], 'the server gone'), 'the server saw its parent go (parent guard) and ended')
  t.ok(await gone([started.snmpd], 'snmpd gone'), 'snmpd got its parent-death signal')
})
