import t from 'tap'
import Fastify from 'fastify'
import { join } from 'node:path'
import estatus, { type EstatusEvent } from '../app.ts'
import { call, tempDir, validServer } from './support/app.ts'

t.test('embedded under a prefix, without touching the host', async t => {
  const dir = await tempDir(t)
  const host = Fastify({ logger: false })
  host.get('/host/echo', async () => ({ host: true }))
  host.post('/host/form', async request => ({ got: request.body }))
  await host.register(estatus, { prefix: '/status', dataFile: join(dir, 'embedded.json'), pingIntervalMs: 3600000 })
  await host.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => host.close())
  const url = `http://127.0.0.1:${(host.server.address() as { port: number }).port}`

  const events: EstatusEvent[] = []
  host.estatus.events.subscribe(event => events.push(event))

  const created = await call(url, 'POST', '/status/api/config/servers', validServer())
  t.equal(created.status, 201)
  t.equal((await call(url, 'GET', '/api/config/servers')).status, 404, 'nothing is mounted outside the prefix')

  // The host's own routes keep Fastify's behaviour: our envelope, parser and 404 stay inside.
  t.same((await call(url, 'GET', '/host/echo')).json, { host: true })
  const form = await call(url, 'POST', '/host/form', 'a=b', { 'content-type': 'text/plain' })
  t.same(form.json, { got: 'a=b' }, 'the host still parses text/plain')
  const hostMissing = await call(url, 'GET', '/host/missing')
  t.equal(hostMissing.status, 404)
  t.notOk(hostMissing.json?.success === false && hostMissing.json?.error === 'Route not found', 'the host 404 is not ours')

  // The decorator: same validation and events as the API.
  const viaHost = await host.estatus.store.createServer(validServer({ name: 'from-host' }))
  t.equal(viaHost.value.id, 'server-002')
  await t.rejects(host.estatus.store.createServer({ name: 'x' }), { statusCode: 400, message: /ip: is required/ })
  t.same(events.filter(event => event.type === 'serverAdded').map(event => event.type === 'serverAdded' && event.server.name), ['web-1', 'from-host'])
  t.same(host.estatus.monitor.statuses().map(status => status.name), ['web-1', 'from-host'])
  t.same((await call(url, 'GET', '/status/api/servers')).json.data.map((status: { id: string }) => status.id), ['server-001', 'server-002'])
  t.same((await call(url, 'GET', '/status/api/nope')).json, { success: false, error: 'Route not found' })
})

t.test('embedded without a prefix, the host keeps its own 404 outside /api', async t => {
  const dir = await tempDir(t)
  const host = Fastify({ logger: false })
  await host.register(estatus, { dataFile: join(dir, 'embedded.json'), pingIntervalMs: 3600000 })
  host.setNotFoundHandler((_request, reply) => { reply.code(404).send({ host: 'not here' }) })
  await host.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => host.close())
  const url = `http://127.0.0.1:${(host.server.address() as { port: number }).port}`
  t.same((await call(url, 'GET', '/somewhere')).json, { host: 'not here' })
  t.same((await call(url, 'GET', '/api/nothing')).json, { success: false, error: 'Route not found' })
  t.equal((await call(url, 'GET', '/api/config/servers')).status, 200)
})
