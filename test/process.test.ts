import t from 'tap'
import { readFileSync } from 'node:fs'
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

t.test('an invalid environment value stops the start with a message naming it', async t => {
  const child = spawnNode(t, ['server.ts'], { env: { ...process.env, ESTATUS_THRESHOLD: '0', PORT: '0' } })
  let stderr = ''
  child.stderr?.on('data', chunk => { stderr += chunk })
  const code = await new Promise(resolve => child.once('exit', resolve))
  t.equal(code, 2)
  t.match(stderr, /ESTATUS_THRESHOLD must be an integer from 1 to 10/)
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
  const preflight = await call(open.url, 'OPTIONS', '/api/config/servers', undefined, { origin: 'http://dash.test', 'access-control-request-method': 'PUT' })
  t.equal(preflight.status, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'http://dash.test')

  const { request } = await import('node:http')
  const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const req = request(open.url + '/api/events', { headers: { origin: 'http://dash.test' } }, res => { resolve(res.headers); req.destroy() })
    req.on('error', err => { if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err) })
    req.end()
  })
  t.equal(headers['access-control-allow-origin'], 'http://dash.test', 'the event stream carries the same CORS headers')
  t.equal(headers['content-type'], 'text/event-stream')
})
