import t from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { call, tempDir, validServer } from './support/app.ts'
import { waitFor } from './support/wait.ts'
import { fpingChildren, isAlive } from './support/proc.ts'
import { spawnNode, spawnServer } from './support/server-process.ts'
import { connectEvents } from './support/sse.ts'

/** The fping processes `parent` started that probe `address` (other tests run fping too). */
const fpingsProbing = (parent: number, address: string) =>
  fpingChildren(parent).filter(({ argv }) => argv.includes(address)).map(({ pid }) => pid)

/** `npm start`'s entry as a child process, with the env of SPEC §1. */
async function startServer (t: Parameters<typeof tempDir>[0], env: Record<string, string>) {
  const dir = await tempDir(t)
  const server = await spawnServer(t, { dataFile: join(dir, 'data', 'estatus.json'), env })
  const child = server.proc
  return { child, url: server.url, dir, exited: server.exited.then(({ code }) => code), output: server.output }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal}: streams end, fping children stop, every acknowledged change is on disk, exit 0`, async t => {
    const address = signal === 'SIGTERM' ? '127.0.0.41' : '127.0.0.42'
    const server = await startServer(t, { ESTATUS_PING_INTERVAL_MS: '200' })
    const events = await connectEvents(server.url)
    t.teardown(() => events.close())
    const created = await call(server.url, 'POST', '/api/config/servers', validServer({ dnsAddress: address }))
    t.equal(created.status, 201)
    const fpings = await waitFor(() => { const pids = fpingsProbing(server.child.pid!, address); return pids.length > 0 ? pids : null }, 10000, 'fping probing the server')

    server.child.kill(signal)
    t.equal(await server.exited, 0, 'exit code 0')
    await events.ended
    t.pass('the event stream was ended')
    t.same(fpings.filter(isAlive), [], 'no fping child is left behind')
    const stored = JSON.parse(readFileSync(join(server.dir, 'data', 'estatus.json'), 'utf8'))
    t.same(stored.servers.map((s: { id: string }) => s.id), [created.json.data.id])
  })
}

/** Runs server.ts where its start must fail: its exit code and everything it printed. */
async function failedStart (t: Parameters<typeof tempDir>[0], env: Record<string, string>, args: string[] = []) {
  const child = spawnNode(t, ['server.ts', ...args], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ESTATUS_PING_INTERVAL_MS: '3600000', ...env }
  })
  let stderr = ''
  let stdout = ''
  child.stderr?.on('data', chunk => { stderr += chunk })
  child.stdout?.on('data', chunk => { stdout += chunk })
  const code = await new Promise(resolve => child.once('exit', resolve))
  return { code, stderr, output: stdout + stderr }
}

t.test('an invalid environment value stops the start with one line naming it', async t => {
  // The starts run side by side: each is a node process loading TypeScript.
  const [threshold, several, args] = await Promise.all([
    failedStart(t, { ESTATUS_THRESHOLD: '0' }),
    failedStart(t, { ESTATUS_PING_INTERVAL_MS: '-5', CORS_ORIGIN: ',', LOG_LEVEL: 'loud' }),
    failedStart(t, {}, ['--import-servrs', 'x.json'])
  ])
  t.equal(threshold.code, 1)
  t.equal(threshold.stderr, 'cannot start: ESTATUS_THRESHOLD must be an integer from 1 to 10, got "0"\n')

  t.equal(several.code, 1)
  t.equal(several.stderr.split('\n').length, 2, 'one line')
  t.match(several.stderr, /ESTATUS_PING_INTERVAL_MS must be an integer from 100 to 3600000, got "-5"/)
  t.match(several.stderr, /CORS_ORIGIN must be/)
  t.match(several.stderr, /LOG_LEVEL must be one of/)

  t.equal(args.code, 1)
  t.match(args.stderr, /^cannot start: Unknown option '--import-servrs'/)
})

t.test('a start that fails on its data file says why in one line, without a stack or the file\'s content', async t => {
  const dir = await tempDir(t)
  const broken = join(dir, 'broken.json')
  // A typo on the community line: the community must not reach the output.
  writeFileSync(broken, '{"version": 1, "nextServerId": 2, "nextGroupId": 1, "servers": [{"id": "server-001",\n "snmp": {"community": "s3cr3t-community" x}}], "groups": []}\n')
  const folder = join(dir, 'folder.json')
  mkdirSync(folder)
  const starts = await Promise.all([broken, folder].map(file => failedStart(t, { ESTATUS_DATA_FILE: file })))
  for (const [i, file] of [broken, folder].entries()) {
    const start = starts[i]!
    t.equal(start.code, 1, `${file}: exit 1`)
    t.match(start.stderr, /^cannot start: [^\n]+\n$/, `${file}: one line`)
    t.notMatch(start.output, /s3cr3t-community/, `${file}: no file content`)
    t.notMatch(start.output, /\n\s+at /, `${file}: no stack trace`)
  }
})

t.test('CORS: same-origin only by default; CORS_ORIGIN allows listed origins on the API and the stream alike', async t => {
  const closed = await startServer(t, { ESTATUS_PING_INTERVAL_MS: '3600000' })
  const plain = await call(closed.url, 'GET', '/api/config/servers', undefined, { origin: 'http://elsewhere.test' })
  t.notOk(plain.headers['access-control-allow-origin'], 'no CORS header by default')

  const open = await startServer(t, { ESTATUS_PING_INTERVAL_MS: '3600000', CORS_ORIGIN: 'http://dash.test, http://ops.test' })
  const allowed = await call(open.url, 'GET', '/api/config/servers', undefined, { origin: 'http://ops.test' })
  t.equal(allowed.headers['access-control-allow-origin'], 'http://ops.test')
  const other = await call(open.url, 'GET', '/api/config/servers', undefined, { origin: 'http://evil.test' })
  t.notOk(other.headers['access-control-allow-origin'])
  const preflight = await call(open.url, 'OPTIONS', '/api/config/servers/server-001', undefined, {
    origin: 'http://dash.test', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type, if-match'
  })
  t.equal(preflight.status, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'http://dash.test')
  t.same(String(preflight.headers['access-control-allow-methods']).split(/, */), ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'], 'every method the API has')
  t.match(String(preflight.headers['access-control-allow-headers']).toLowerCase(), /if-match/)

  // What the config page does: read the item's ETag, then PUT with If-Match, cross-origin.
  const page = { origin: 'http://dash.test' }
  const created = await call(open.url, 'POST', '/api/config/servers', validServer(), page)
  t.match(String(created.headers['access-control-expose-headers']), /\bETag\b/i, 'the page can read the ETag')
  const read = await call(open.url, 'GET', `/api/config/servers/${created.json.data.id}`, undefined, page)
  t.match(String(read.headers['access-control-expose-headers']), /\bETag\b/i)
  const etag = String(read.headers.etag)
  const put = await call(open.url, 'PUT', `/api/config/servers/${created.json.data.id}`, validServer({ name: 'renamed' }), { ...page, 'if-match': etag })
  t.equal(put.status, 200, 'PUT with the If-Match it read')
  t.equal(put.headers['access-control-allow-origin'], 'http://dash.test')
  const stale = await call(open.url, 'PUT', `/api/config/servers/${created.json.data.id}`, validServer({ name: 'again' }), { ...page, 'if-match': etag })
  t.equal(stale.status, 409, 'the same If-Match is stale now')
  const deletePreflight = await call(open.url, 'OPTIONS', `/api/config/servers/${created.json.data.id}`, undefined, { ...page, 'access-control-request-method': 'DELETE' })
  t.match(String(deletePreflight.headers['access-control-allow-methods']), /DELETE/)

  const { request } = await import('node:http')
  const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const req = request(open.url + '/api/events', { headers: { origin: 'http://dash.test' } }, res => { resolve(res.headers); req.destroy() })
    req.on('error', err => { if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err) })
    req.end()
  })
  t.equal(headers['access-control-allow-origin'], 'http://dash.test', 'the event stream carries the same CORS headers')
  t.equal(headers['content-type'], 'text/event-stream')
})
