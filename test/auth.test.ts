import t from 'tap'
import Fastify from 'fastify'
import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { EventSource } from 'eventsource'
import estatus, { type EstatusOptions } from '../app.ts'
import { loggerOptions } from '../lib/options.ts'
import { call, startApp, tempDir, validServer, type Running } from './support/app.ts'
import { waitFor } from './support/wait.ts'
import { bearer, seedTokens, statusOf } from './support/auth-support.ts'

// ---- the answers themselves --------------------------------------------------------------

t.test('401 carries WWW-Authenticate: Bearer and 403 names the role, both enveloped', async t => {
  const dir = await tempDir(t)
  const secrets = await seedTokens(dir)
  const api = await startApp(t, { auth: 'all' }, dir)
  const missing = await api.call('GET', '/api/servers')
  t.equal(missing.status, 401)
  t.match(missing.headers['www-authenticate'], /^Bearer realm="estatus"$/)
  t.same(missing.json, { success: false, error: "Authentication required: send a read token as 'Authorization: Bearer <token>'" })
  const wrong = await api.call('GET', '/api/servers', undefined, bearer('est_wrong'))
  t.equal(wrong.status, 401)
  t.match(wrong.headers['www-authenticate'], /^Bearer .*error="invalid_token"/)
  t.same(wrong.json, { success: false, error: 'Invalid access token' })
  const weak = await api.call('POST', '/api/config/servers', validServer(), bearer(secrets.read!))
  t.equal(weak.status, 403)
  t.same(weak.json, { success: false, error: "This needs a write token; token 'read-token' has the role read" })
  const lowerCase = await api.call('GET', '/api/servers', undefined, { authorization: `bearer ${secrets.read}` })
  t.equal(lowerCase.status, 200, 'the scheme name is case-insensitive')
  t.same((await api.call('GET', '/api/servers', undefined, { authorization: `Basic ${secrets.read}` })).status, 401, 'another scheme is refused')
})

t.test('token create, list and revoke through /api/auth/tokens; only hashes in the 0600 file', async t => {
  const dir = await tempDir(t)
  const secrets = await seedTokens(dir)
  const api = await startApp(t, {}, dir)
  const admin = bearer(secrets.admin!)
  const created = await api.call('POST', '/api/auth/tokens', { name: 'grafana', role: 'read' }, admin)
  t.equal(created.status, 201)
  t.match(created.json.data, { id: /^tok-[0-9a-f]{8}$/, name: 'grafana', role: 'read', token: /^est_[A-Za-z0-9_-]{43}$/ })
  const secret: string = created.json.data.token

  const listed = await api.call('GET', '/api/auth/tokens', undefined, admin)
  t.same(listed.json.data.map((token: { name: string }) => token.name), ['read-token', 'write-token', 'admin-token', 'grafana'])
  t.notOk(listed.text.includes(secret), 'the secret is shown once only')
  t.notOk(listed.text.includes('hash'), 'no hash in the list')

  const file = join(dir, 'tokens.json')
  const text = await readFile(file, 'utf8')
  t.notOk(text.includes(secret), 'the secret is not in the file')
  t.ok(text.includes(createHash('sha256').update(secret).digest('hex')), 'its SHA-256 is')
  for (const other of [secrets.read, secrets.write, secrets.admin]) t.notOk(text.includes(other!), 'no secret of any token is in the file')
  t.equal((await stat(file)).mode & 0o777, 0o600, 'the file is readable by its owner only')

  t.equal((await api.call('GET', '/metrics', undefined, bearer(secret))).status, 200)
  t.equal((await api.call('POST', '/api/auth/tokens', { name: 'grafana', role: 'read' }, admin)).status, 409, 'names are unique')
  const bad = await api.call('POST', '/api/auth/tokens', { name: 'x', role: 'root' }, admin)
  t.equal(bad.status, 400)
  t.match(bad.json.error, /role: must be one of: read, write, admin/)

  const revoked = await api.call('DELETE', `/api/auth/tokens/${created.json.data.id}`, undefined, admin)
  t.same(revoked.json, { success: true, data: { deletedId: created.json.data.id } })
  t.equal((await api.call('POST', '/api/config/servers', validServer(), bearer(secret))).status, 401, 'a revoked token stops working at once')
  t.equal((await api.call('DELETE', '/api/auth/tokens/tok-00000000', undefined, admin)).status, 404)
})

t.test('the estatus_token cookie opens /api/events, and no other route', async t => {
  const dir = await tempDir(t)
  const secrets = await seedTokens(dir)
  const api = await startApp(t, { auth: 'all' }, dir)
  t.equal((await statusOf(api.url, '/api/events')).status, 401)
  const bad = await statusOf(api.url, '/api/events', { cookie: 'estatus_token=est_wrong' })
  t.equal(bad.status, 401)
  const stream = await statusOf(api.url, '/api/events', { cookie: `theme=dark; estatus_token=${secrets.read}` })
  t.equal(stream.status, 200)
  t.match(stream.body, /"type":"connected"/)
  t.equal((await api.call('GET', '/api/servers', undefined, { cookie: `estatus_token=${secrets.read}` })).status, 401, 'the cookie is for streams only')
})

t.test('repeated failures from one address get 429, also for a right token; other addresses do not', async t => {
  const dir = await tempDir(t)
  const secrets = await seedTokens(dir)
  const api = await startApp(t, { auth: 'all', authMaxFailures: 3 }, dir)
  for (let i = 0; i < 3; i++) t.equal((await statusOf(api.url, '/api/servers', bearer('est_guess' + i))).status, 401)
  const blocked = await statusOf(api.url, '/api/servers', bearer(secrets.read!))
  t.equal(blocked.status, 429, 'blocked: a right token cannot be told from a wrong one')
  t.ok(Number(blocked.headers['retry-after']) > 0, 'Retry-After says when')
  t.match(JSON.parse(blocked.body), { success: false, error: /Too many failed authentication attempts/ })
  t.equal((await statusOf(api.url, '/api/servers', bearer(secrets.read!), '127.0.0.2')).status, 200, 'another address is not affected')
  t.equal((await statusOf(api.url, '/health')).status, 200, 'open routes stay open')
})

t.test('writes mode: an EventSource and the status routes work without a token', async t => {
  const dir = await tempDir(t)
  await seedTokens(dir) // a token exists: the default mode is writes
  const api = await startApp(t, {}, dir)
  await api.app.estatus.store.createServer(validServer({ name: 'dash' }))
  for (const path of ['/api/servers', '/api/servers/stats/summary', '/api/config/servers', '/api/config/groups', '/health']) {
    t.equal((await api.call('GET', path)).status, 200, `GET ${path}`)
  }
  const messages: Array<{ type: string }> = []
  const es = new EventSource(`${api.url}/api/events`)
  t.teardown(() => es.close())
  es.onmessage = event => messages.push(JSON.parse(event.data))
  await waitFor(() => messages.some(message => message.type === 'initial'), 10000, 'the initial snapshot')
  t.match(messages[1], { type: 'initial', servers: [{ name: 'dash' }] })
  t.equal((await api.call('POST', '/api/config/servers', validServer())).status, 401, 'changes need a token')
})

// ---- logs --------------------------------------------------------------------------------

t.test('tokens never reach a log line, even at trace', async t => {
  const dir = await tempDir(t)
  const secrets = await seedTokens(dir)
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(chunk.toString()); done() } })
  const app = Fastify({ logger: { ...loggerOptions('trace', false), stream } as object, forceCloseConnections: true })
  await app.register(estatus, { dataFile: join(dir, 'estatus.json'), auth: 'all' } satisfies EstatusOptions)
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const admin = bearer(secrets.admin!)
  const created = await call(url, 'POST', '/api/auth/tokens', { name: 'logged', role: 'write' }, admin)
  const fresh: string = created.json.data.token
  await call(url, 'GET', '/api/servers', undefined, bearer(secrets.read!))
  await call(url, 'GET', '/api/servers', undefined, bearer('est_wrong-guess-token'))
  await call(url, 'POST', '/api/config/servers', validServer(), bearer(fresh))
  await call(url, 'POST', '/api/config/servers', validServer(), bearer(secrets.read!))
  await statusOf(url, '/api/events', { cookie: `estatus_token=${secrets.read}` })
  await call(url, 'DELETE', `/api/auth/tokens/${created.json.data.id}`, undefined, admin)
  await app.close()
  const log = lines.join('')
  t.ok(lines.length > 20, `the log was written (${lines.length} lines)`)
  t.equal(app.log.level, 'trace')
  t.match(log, /"level":20/, 'debug lines are there (nothing of ours writes at trace)')
  t.match(log, /access token created/)
  for (const secret of [secrets.read!, secrets.write!, secrets.admin!, fresh, 'est_wrong-guess-token']) {
    t.notOk(log.includes(secret), `no log line holds ${secret.slice(0, 8)}…`)
    t.notOk(log.includes(secret.slice(4, 20)), 'nor a part of it')
  }
})

t.test('a warning when access control is off and the server listens beyond loopback', async t => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(chunk.toString()); done() } })
  const dir = await tempDir(t)
  for (const host of ['127.0.0.1', '0.0.0.0']) {
    const app = Fastify({ logger: { level: 'warn', stream } })
    await app.register(estatus, { dataFile: join(dir, 'estatus.json') })
    await app.listen({ port: 0, host })
    await app.close()
  }
  const warnings = lines.filter(line => line.includes('access control is off'))
  t.equal(warnings.length, 1, 'only the open listener warns')
  t.match(warnings[0], /"addresses":\["0\.0\.0\.0"\]/)
})

// ---- Host check ------------------------------------------------------------------------------

async function hostAnswer (api: Running, host: string) {
  return statusOf(api.url, '/api/servers', { host })
}

t.test('Host check while auth is off: loopback names, own names and allowed hosts only', async t => {
  const api = await startApp(t, { allowedHosts: ['status.example.com'] })
  const port = new URL(api.url).port
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'app.localhost', `[::1]:${port}`, hostname(), `status.example.com:${port}`, 'STATUS.example.com']) {
    t.equal((await hostAnswer(api, host)).status, 200, `Host ${host}`)
  }
  const refused = await hostAnswer(api, `evil.example:${port}`)
  t.equal(refused.status, 403)
  t.same(JSON.parse(refused.body), { success: false, error: "Host 'evil.example' is not allowed while access control is off: add it to ESTATUS_ALLOWED_HOSTS or create an access token" })
  t.equal((await hostAnswer(api, '10.0.0.1.nip.io')).status, 403)
  t.equal((await statusOf(api.url, '/health', { host: 'evil.example' })).status, 403, 'every route of the plugin')
})

t.test('Host check is not needed once a token guards the API', async t => {
  const dir = await tempDir(t)
  const secrets = await seedTokens(dir)
  const api = await startApp(t, {}, dir)
  t.equal((await hostAnswer(api, 'status.behind-a-proxy.example')).status, 200, 'writes mode: reads open to any Host')
  const write = await statusOf(api.url, '/api/auth/tokens', { host: 'evil.example', ...bearer(secrets.admin!) })
  t.equal(write.status, 200)
})
