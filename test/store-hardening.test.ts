// Issue 8 defects owned by the store: id counters, deep nesting, start-up errors about the
// data file, group-name folding, strong If-Match, write failures and read-only files.
import t from 'tap'
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Fastify from 'fastify'
import estatus from '../app.ts'
import { startApp, tempDir, validServer } from './support/app.ts'
import { waitFor } from './support/wait.ts'
import { freePort } from './support/ports.ts'
import { spawnNode } from './support/server-process.ts'
import { once } from 'node:events'

const post = (api: Awaited<ReturnType<typeof startApp>>, path: string, body: unknown) => api.call('POST', path, body)
const noWatch = { watchDataFile: false }

t.test('defect 1: large client-chosen ids never hang the counters, and every restart works', async t => {
  const dir = await tempDir(t)
  const api = await startApp(t, noWatch, dir)
  t.equal((await post(api, '/api/config/servers', validServer({ id: 'server-9007199254740993' }))).status, 201)
  t.equal((await post(api, '/api/config/servers', validServer({ id: 'server-' + '9'.repeat(57) }))).status, 201)
  const ids = []
  for (let i = 0; i < 2; i++) ids.push((await post(api, '/api/config/servers', validServer())).json.data.id)
  t.same(ids, ['server-001', 'server-002'], 'the counter did not move for ids beyond its range')
  const stored = JSON.parse(await api.fileText())
  t.equal(stored.nextServerId, 3)
  await api.app.close()

  const again = await startApp(t, noWatch, dir)
  t.equal((await post(again, '/api/config/servers', validServer())).json.data.id, 'server-003', 'a restart on the file we wrote works')
})

t.test('defect 1: a hand-edited file with huge group ids and counters starts and hands out distinct ids', async t => {
  const dir = await tempDir(t)
  const dataFile = join(dir, 'estatus.json')
  await writeFile(dataFile, JSON.stringify({
    version: 1,
    nextServerId: 1e57,
    nextGroupId: 2 ** 53, // what JSON's 9007199254740993 reads as
    servers: [],
    groups: [{ id: 'group-9007199254740993', name: 'Edited', order: 1, serverIds: [], rowNumber: 1, rowOrder: 1 }]
  }))
  const api = await startApp(t, noWatch, dir)
  const first = await post(api, '/api/config/groups', { name: 'A' })
  const second = await post(api, '/api/config/groups', { name: 'B' })
  t.equal(first.status, 201)
  t.equal(second.status, 201)
  t.not(first.json.data.id, second.json.data.id, 'two POSTs, two ids')
  const server = await post(api, '/api/config/servers', validServer())
  t.match(server.json.data.id, /^server-\d+$/, 'a generated server id stays a decimal number')
  const stored = JSON.parse(await readFile(dataFile, 'utf8'))
  t.ok(Number.isSafeInteger(stored.nextServerId) && Number.isSafeInteger(stored.nextGroupId), 'the counters written are safe integers')
  await api.app.close()
  const again = await startApp(t, noWatch, dir)
  t.equal((await again.call('GET', '/api/config/groups')).json.data.length, 3, 'and it starts again on what it wrote')
})

const deep = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels)

// Over HTTP the body parser refuses such bodies first (test/hardening.test.ts); the store
// guards every other way in: the host API here, hand edits below.
t.test('defect 3: 10,000 levels of nesting through the host API are refused naming the field', async t => {
  const api = await startApp(t)
  const store = api.app.estatus.store
  const id = (await store.createServer(validServer())).value.id
  const gid = (await store.createGroup({ name: 'G' })).value.id
  const before = await api.fileText()
  const nested = JSON.parse(deep(10000))
  for (const [what, attempt, field] of [
    ['createServer', () => store.createServer({ ...validServer(), snmp: nested }), 'snmp'],
    ['updateServer', () => store.updateServer(id, { ...validServer(), snmp: nested }), 'snmp'],
    ['createGroup', () => store.createGroup({ name: 'x', serverIds: nested }), 'serverIds'],
    ['updateGroup', () => store.updateGroup(gid, { name: nested }), 'name']
  ] as const) {
    const err = await (attempt as () => Promise<unknown>)().then(() => null, (error: unknown) => error as { statusCode?: number, message: string, fields?: Record<string, string> })
    t.equal(err?.statusCode, 400, `${what}: refused`)
    t.match(err?.message, /nested too deeply/, `${what}: says why`)
    t.match(err?.fields, { [field]: /nested too deeply/ }, `${what}: names ${field}`)
  }
  t.same(await api.fileText(), before, 'nothing stored changed')
  t.equal((await api.call('GET', '/health')).status, 200)
})

t.test('defect 3: a deeply nested hand edit is rejected and reported, the server keeps running', async t => {
  const api = await startApp(t, { watchDataFile: true })
  await post(api, '/api/config/servers', validServer())
  const text = await api.fileText()
  await writeFile(api.dataFile, text.replace('"name": "web-1"', `"name": ${deep(10000)}`))
  const report = await waitFor(async () => { const health = (await api.call('GET', '/health')).json; return health.checks.store.ok === false && health }, 15000, 'the rejection')
  t.match(report.checks.store.error, /nested too deeply/)
  t.equal((await api.call('GET', '/api/config/servers')).json.data[0].name, 'web-1', 'the last good configuration is kept')
})

t.test('defect 4: a malformed data file stops the start with one line naming the file, never its content', { timeout: 120_000 }, async t => {
  const dir = await tempDir(t)
  const dataFile = join(dir, 'estatus.json')
  const secret = 'Sup3r-Secret-Community'
  // A typo on the community line: the closing quote is missing.
  await writeFile(dataFile, `{"version": 1, "nextServerId": 2, "nextGroupId": 1, "servers": [{"id": "server-001", "name": "a", "ip": "10.0.0.1", "dnsAddress": "h",\n "snmp": {"enabled": true, "community": "${secret}, "disks": []}}], "groups": []}\n`)
  // server.ts as `npm start` runs it; it must exit on its own (killed with the test otherwise).
  const child = spawnNode(t, ['server.ts'], {
    env: { ...process.env, PORT: String(await freePort()), HOST: '127.0.0.1', ESTATUS_DATA_FILE: dataFile, ESTATUS_FPING_PATH: join(dir, 'no-fping'), LOG_LEVEL: 'warn' }
  })
  let stderr = ''
  child.stderr?.on('data', chunk => { stderr += chunk })
  child.stdout?.resume()
  const [code] = await once(child, 'exit')
  t.equal(code, 1, 'the start fails')
  const output = stderr.trim()
  t.notMatch(output, secret, 'the community is not printed')
  t.equal(output.split('\n').length, 1, `one line: ${output}`)
  t.match(output, `The data file ${dataFile} is not valid JSON`)
  t.notMatch(output, /\n\s+at /, 'no stack trace')
})

t.test('defect 4: other data-file problems are one clear error naming the file', async t => {
  const dir = await tempDir(t)
  const cases: Array<[string, string, RegExp]> = [
    ['a directory', join(dir, 'folder'), /Cannot read the data file .*folder: it is a directory/],
    ['below a regular file', join(dir, 'plain.txt', 'estatus.json'), /Cannot read the data file .*plain\.txt\/estatus\.json: a part of its path is not a directory/],
    ['not a configuration', join(dir, 'wrong.json'), /The data file .*wrong\.json is not a valid estatus configuration: Validation failed: servers: must be an array/]
  ]
  await mkdir(join(dir, 'folder'))
  await writeFile(join(dir, 'plain.txt'), 'x')
  await writeFile(join(dir, 'wrong.json'), JSON.stringify({ version: 1, nextServerId: 1, nextGroupId: 1, servers: { community: 'hidden' }, groups: [] }))
  for (const [what, dataFile, message] of cases) {
    const app = Fastify({ logger: false })
    t.teardown(() => app.close())
    const err = await app.register(estatus, { dataFile, watchDataFile: false }).then(() => null, (error: Error) => error)
    t.equal(err?.name, 'DataFileError', what)
    t.match(err?.message, message, what)
    t.notMatch(err?.message, /hidden|\n/, 'one line, no content')
  }
})

t.test('defect 7: group names are unique after NFKC normalisation and case folding', async t => {
  const api = await startApp(t)
  t.equal((await post(api, '/api/config/groups', { name: 'Web' })).status, 201)
  t.equal((await post(api, '/api/config/groups', { name: 'Straße' })).status, 201)
  for (const name of ['Ｗｅｂ', 'WEB', 'STRASSE', 'strasse']) {
    const answer = await post(api, '/api/config/groups', { name })
    t.equal(answer.status, 409, name)
    t.match(answer.json, { success: false, error: /already exists/ })
  }
})

t.test('defect 7: If-Match compares strongly: a weak tag never matches', async t => {
  const api = await startApp(t)
  const created = await post(api, '/api/config/servers', validServer())
  const weak = `W/${created.headers.etag as string}`
  const before = await api.fileText()
  t.equal((await api.call('PUT', `/api/config/servers/${created.json.data.id}`, validServer({ name: 'b' }), { 'if-match': weak })).status, 409)
  t.equal((await api.call('DELETE', `/api/config/servers/${created.json.data.id}`, undefined, { 'if-match': weak })).status, 409)
  t.same(await api.fileText(), before)
  t.equal((await api.call('PUT', `/api/config/servers/${created.json.data.id}`, validServer({ name: 'b' }), { 'if-match': created.headers.etag as string })).status, 200, 'the strong tag does')
})

t.test('defect 7: /health says degraded after a failed write until a write succeeds', async t => {
  const api = await startApp(t, noWatch)
  t.equal((await post(api, '/api/config/servers', validServer())).status, 201)
  // The data file's folder becomes a regular file: the next write cannot create its temp file.
  const moved = api.dir + '.away'
  await rename(api.dir, moved)
  t.teardown(() => rm(moved, { recursive: true, force: true }))
  await writeFile(api.dir, 'not a folder')
  const failed = await post(api, '/api/config/servers', validServer({ name: 'lost' }))
  t.equal(failed.status, 500)
  let health = (await api.call('GET', '/health')).json
  t.equal(health.status, 'degraded')
  t.match(health.checks.store, { ok: false, error: /could not write .*estatus\.json/ })
  t.equal((await api.call('GET', '/api/config/servers')).json.data.length, 1, 'the failed change is not applied')
  health = (await api.call('GET', '/health')).json
  t.equal(health.checks.store.ok, false, 'still degraded on a later look')

  await rm(api.dir)
  await rename(moved, api.dir)
  t.equal((await post(api, '/api/config/servers', validServer({ name: 'saved' }))).status, 201)
  t.same((await api.call('GET', '/health')).json.checks.store, { ok: true }, 'healthy again after a good write')
})

t.test('defect 7: a read-only data file starts the server read-only; writes are 503', async t => {
  const dir = await tempDir(t)
  const dataFile = join(dir, 'estatus.json')
  await writeFile(dataFile, JSON.stringify({ version: 1, nextServerId: 2, nextGroupId: 1, servers: [{ id: 'server-001', ...validServer() }], groups: [] }))
  await chmod(dataFile, 0o444)
  const before = await readFile(dataFile, 'utf8')
  const api = await startApp(t, noWatch, dir)
  t.equal((await api.call('GET', '/api/config/servers')).json.data[0].id, 'server-001', 'the configuration is served')
  for (const [method, path, body] of [
    ['POST', '/api/config/servers', validServer()],
    ['PUT', '/api/config/servers/server-001', validServer({ name: 'x' })],
    ['DELETE', '/api/config/servers/server-001', undefined],
    ['POST', '/api/config/groups', { name: 'G' }]
  ] as const) {
    const answer = await api.call(method, path, body)
    t.equal(answer.status, 503, `${method} ${path}`)
    t.match(answer.json, { success: false, error: /read-only/ })
  }
  const bad = await post(api, '/api/config/servers', { name: '' })
  t.equal(bad.status, 400, 'bad input is still named first')
  t.match((await api.call('GET', '/health')).json.checks.store, { ok: true, readOnly: true, error: /read-only/ })
  t.equal(await readFile(dataFile, 'utf8'), before, 'the file is untouched')
})
