/**
 * A stand-in for a test file, for test/guard.test.ts: starts what test files start (a
 * server child through spawnServer, snmpd, and a child of its own, as an in-process app's
 * fping would be), prints their pids as one JSON line, and waits to be killed.
 * Usage: node --import tsx/esm --import ./test/support/test-file-guard.ts guarded-parent.ts <data file>
 */
import { spawn } from 'node:child_process'
import { spawnServer } from './server-process.ts'
import { startSnmpd } from './snmpd.ts'

const never = { teardown () {} } // it is killed, it never tears down
const server = await spawnServer(never, {
  dataFile: process.argv[2]!,
  env: { ESTATUS_PING_INTERVAL_MS: '3600000', ESTATUS_FPING_PATH: '/nonexistent/fping' },
  readyPath: '/api/config/servers'
})
const snmpd = await startSnmpd()
const own = spawn('sleep', ['3600'], { stdio: 'ignore' })
console.log(JSON.stringify({ self: process.pid, server: server.pid, snmpd: snmpd.proc.pid, own: own.pid }))
setInterval(() => {}, 3600_000)
