// The options schema: checked at register, the README's table generated from it, and the
// `monitor: false` seam (statuses without any probing).
import t from 'tap'
import Fastify from 'fastify'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import estatus from '../app.ts'
import { optionsFromEnv } from '../lib/options.ts'
import { optionsTable } from '../scripts/options-table.ts'
import { startApp, tempDir, validServer, type Test } from './support/app.ts'
import { waitFor } from './support/wait.ts'

async function registerFails (t: Test, options: Record<string, unknown>) {
  const dir = await tempDir(t)
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  return app.register(estatus, { dataFile: join(dir, 'estatus.json'), ...options }).then(() => null, (err: Error) => err)
}

t.test('invalid options are refused at register, each named', async t => {
  const err = await registerFails(t, { pingIntervalMs: -5, threshold: 0 })
  t.ok(err, 'the register rejects')
  t.equal(err?.message, "fastify-estatus: invalid options: option 'pingIntervalMs' must be an integer from 100 to 3600000, got -5; option 'threshold' must be an integer from 1 to 10, got 0")

  t.match((await registerFails(t, { pingIntervalMs: 1.5 }))?.message, /option 'pingIntervalMs' must be an integer/)
  t.match((await registerFails(t, { monitor: 'off' }))?.message, /option 'monitor' must be true or false, got "off"/)
  t.match((await registerFails(t, { corsOrigin: [] }))?.message, /option 'corsOrigin' must be '\*' or a list of non-empty strings/)
  t.match((await registerFails(t, { importFrom: { servers: 3 } }))?.message, /option 'importFrom.servers' must be string, got 3/)
  t.match((await registerFails(t, { pingIntervalMS: 1000 }))?.message, /unknown option 'pingIntervalMS'/, 'a misspelt option is not ignored')
})

t.test('valid options, undefined ones and Fastify\'s own register options are accepted', async t => {
  const running = await startApp(t, { monitor: false, pingIntervalMs: undefined, threshold: 10, corsOrigin: '*' })
  t.equal((await running.call('GET', '/api/config/servers')).status, 200)
  const dir = await tempDir(t)
  const host = Fastify({ logger: false })
  t.teardown(() => host.close())
  await host.register(estatus, { dataFile: join(dir, 'estatus.json'), monitor: false, logLevel: 'warn' })
  t.ok(host.estatus)
})

t.test('the environment goes through the same schema', async t => {
  t.same(optionsFromEnv({ ESTATUS_THRESHOLD: '7', CORS_ORIGIN: ' http://a.test , http://b.test ', ESTATUS_SNMP_PORT: '' }), {
    dataFile: 'data/estatus.json',
    corsOrigin: ['http://a.test', 'http://b.test'],
    pingIntervalMs: 1000,
    pingTimeoutMs: 5000,
    threshold: 7,
    diskIntervalMs: 60000,
    snmpCommunity: 'public',
    snmpPort: 161,
    heartbeatMs: 30000,
    replayEvents: 1000,
    fpingPath: 'fping',
    history: true,
    retainMinutesH: 48,
    retainHoursD: 400,
    retainDaysD: 0,
    port: 3001,
    host: '::',
    logLevel: 'info'
  }, 'defaults from the schema; an empty variable counts as unset')
  t.equal(optionsFromEnv({ CORS_ORIGIN: '*' }).corsOrigin, '*')
  t.throws(() => optionsFromEnv({ ESTATUS_REPLAY_EVENTS: '-1' }), { message: 'ESTATUS_REPLAY_EVENTS must be an integer from 0 to 1000000, got "-1"' })
  t.throws(() => optionsFromEnv({ PORT: '70000' }), { message: 'PORT must be an integer from 0 to 65535, got "70000"' })
})

t.test('the README\'s configuration table is the one the schema generates', async t => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  t.ok(readme.includes(`${optionsTable()}\n`), 'README.md holds the output of `npm run docs:options`')
})

/** An fping stand-in that only notes it was started, and an SNMP agent that only counts requests. */
async function probeTargets (t: Test) {
  const dir = await tempDir(t)
  const marker = join(dir, 'fping-started')
  const fpingPath = join(dir, 'fping')
  await writeFile(fpingPath, `#!/bin/sh\necho "$@" >> '${marker}'\n`)
  await chmod(fpingPath, 0o755)
  const agent = createSocket('udp4')
  let requests = 0
  agent.on('message', () => { requests++ })
  agent.bind(0, '127.0.0.1')
  await once(agent, 'listening')
  t.teardown(() => agent.close())
  return {
    options: { fpingPath, snmpPort: agent.address().port, diskIntervalMs: 1000, pingIntervalMs: 1000 },
    fpingStarted: () => stat(marker).then(() => true, () => false),
    snmpRequests: () => requests
  }
}

const disked = validServer({ dnsAddress: '127.0.0.1', snmp: { enabled: true, community: 'c', disks: [{ index: 1, name: 'root' }] } })

t.test('monitor: false keeps statuses but probes nothing', async t => {
  const idle = await probeTargets(t)
  const busy = await probeTargets(t)
  const seam = await startApp(t, { ...idle.options, monitor: false })
  const created = await seam.call('POST', '/api/config/servers', disked)
  t.equal(created.status, 201)

  // The same configuration with the monitor on reaches both stand-ins: they work.
  const control = await startApp(t, busy.options)
  t.equal((await control.call('POST', '/api/config/servers', disked)).status, 201)
  await waitFor(busy.fpingStarted, 30000, 'the control app starting fping')
  await waitFor(() => busy.snmpRequests() > 0, 30000, 'the control app reading disks')

  t.notOk(await idle.fpingStarted(), 'no fping was started')
  t.equal(idle.snmpRequests(), 0, 'no disk round ran')
  const statuses = seam.app.estatus.monitor.statuses()
  t.same(statuses.map(status => [status.id, status.isOnline, status.diskInfo]), [[created.json.data.id, false, null]], 'the server has its status')
  t.same((await seam.call('GET', '/api/servers')).json.data.map((status: { id: string }) => status.id), [created.json.data.id])
  const health = (await seam.call('GET', '/health')).json
  t.equal(health.serverCount, 1)
  t.same(health.checks.icmp, { ok: true })
})
