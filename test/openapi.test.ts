import t from 'tap'
import { validate, compileErrors } from '@readme/openapi-parser'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { startApp, tempDir, validServer, type Running } from './support/app.ts'
import { bearer, seedTokens, statusOf } from './support/auth-support.ts'

interface Operation { tags?: string[], summary?: string, security?: unknown[], responses: Record<string, { content?: Record<string, { schema: object }> }> }
type Document = { openapi: string, paths: Record<string, Record<string, Operation>> }

/** One real exchange per operation of the document: `METHOD /path/{param}` → the request to make. */
function exchanges (ids: { server: string, group: string, token: string, channel: string, rule: string, window: string, document: unknown }): Record<string, { path: string, body?: unknown }> {
  const channel = { name: 'Hook', type: 'webhook', url: 'http://127.0.0.1:9/x', secret: 'shh' }
  const rule = { name: 'Down', on: ['down'], scope: { serverIds: [ids.server], groupIds: [] }, channelIds: [ids.channel] }
  const window = { name: 'Night', scope: { serverIds: [], groupIds: [ids.group] }, start: '2025-01-07T22:00:00Z', end: '2025-01-08T00:00:00Z', repeat: { every: 'day' } }
  return {
    'get /health': { path: '/health' },
    'get /metrics': { path: '/metrics' },
    'get /api/events': { path: '/api/events' },
    'get /api/servers': { path: '/api/servers' },
    'get /api/servers/stats/summary': { path: '/api/servers/stats/summary' },
    'get /api/servers/{id}': { path: `/api/servers/${ids.server}` },
    'get /api/servers/{id}/uptime': { path: `/api/servers/${ids.server}/uptime` },
    'get /api/servers/{id}/history': { path: `/api/servers/${ids.server}/history?step=1h` },
    'get /api/servers/{id}/incidents': { path: `/api/servers/${ids.server}/incidents` },
    'get /api/servers/{id}/disks/history': { path: `/api/servers/${ids.server}/disks/history` },
    'get /api/stats/uptime': { path: '/api/stats/uptime?window=24h' },
    'get /api/alerts': { path: '/api/alerts?limit=10' },
    'get /api/config/servers': { path: '/api/config/servers' },
    'get /api/config/servers/{id}': { path: `/api/config/servers/${ids.server}` },
    'post /api/config/servers': { path: '/api/config/servers', body: validServer({ name: 'added', snmp: { enabled: true, community: 'c', disks: [{ index: 1 }] } }) },
    'put /api/config/servers/{id}': { path: `/api/config/servers/${ids.server}`, body: validServer({ name: 'renamed' }) },
    'get /api/config/groups': { path: '/api/config/groups' },
    'get /api/config/groups/{id}': { path: `/api/config/groups/${ids.group}` },
    'post /api/config/groups': { path: '/api/config/groups', body: { name: 'Second', serverIds: [ids.server] } },
    'put /api/config/groups/{id}': { path: `/api/config/groups/${ids.group}`, body: { name: 'Renamed', serverIds: [] } },
    'get /api/config/channels': { path: '/api/config/channels' },
    'get /api/config/channels/{id}': { path: `/api/config/channels/${ids.channel}` },
    'post /api/config/channels': { path: '/api/config/channels', body: { ...channel, type: 'email', url: undefined, secret: undefined, host: 'smtp.example.net', from: 'a@example.net', to: ['b@example.net'], password: 'pw' } },
    'put /api/config/channels/{id}': { path: `/api/config/channels/${ids.channel}`, body: { ...channel, secret: '********' } },
    // Nothing listens on port 9 of loopback: the test answers 200 with `delivered: false`, and nothing leaves the machine.
    'post /api/config/channels/{id}/test': { path: `/api/config/channels/${ids.channel}/test` },
    'get /api/config/alert-rules': { path: '/api/config/alert-rules' },
    'get /api/config/alert-rules/{id}': { path: `/api/config/alert-rules/${ids.rule}` },
    'post /api/config/alert-rules': { path: '/api/config/alert-rules', body: rule },
    'put /api/config/alert-rules/{id}': { path: `/api/config/alert-rules/${ids.rule}`, body: { ...rule, forSeconds: 60 } },
    'get /api/config/maintenance': { path: '/api/config/maintenance' },
    'get /api/config/maintenance/{id}': { path: `/api/config/maintenance/${ids.window}` },
    'post /api/config/maintenance': { path: '/api/config/maintenance', body: window },
    'put /api/config/maintenance/{id}': { path: `/api/config/maintenance/${ids.window}`, body: { ...window, repeat: { every: 'week' } } },
    'get /api/config/export': { path: '/api/config/export?secrets=include' },
    'post /api/config/import': { path: '/api/config/import', body: ids.document },
    'get /api/auth/tokens': { path: '/api/auth/tokens' },
    'post /api/auth/tokens': { path: '/api/auth/tokens', body: { name: 'made-by-test', role: 'read' } },
    'delete /api/auth/tokens/{id}': { path: `/api/auth/tokens/${ids.token}` },
    // The rule first: a channel that rules send to is not deleted (409).
    'delete /api/config/alert-rules/{id}': { path: `/api/config/alert-rules/${ids.rule}` },
    'delete /api/config/channels/{id}': { path: `/api/config/channels/${ids.channel}` },
    'delete /api/config/maintenance/{id}': { path: `/api/config/maintenance/${ids.window}` },
    'delete /api/config/groups/{id}': { path: `/api/config/groups/${ids.group}?reassign=unassign` },
    'delete /api/config/servers/{id}': { path: `/api/config/servers/${ids.server}` }
  }
}

async function documentOf (api: Running, headers: Record<string, string>): Promise<Document> {
  const answer = await api.call('GET', '/api/openapi.json', undefined, headers)
  if (answer.status !== 200) throw new Error(`GET /api/openapi.json answered ${answer.status}`)
  return answer.json
}

t.test('the document is valid OpenAPI 3.1, and every route answers as it says', async t => {
  const dir = await tempDir(t)
  const secrets = await seedTokens(dir)
  const api = await startApp(t, { auth: 'all', pingIntervalMs: 3600000 }, dir)
  const admin = bearer(secrets.admin!)
  const document = await documentOf(api, admin)
  t.equal(document.openapi, '3.1.0')
  const result = await validate(structuredClone(document) as never)
  t.ok(result.valid, result.valid ? 'valid against the OpenAPI 3.1 schema' : compileErrors(result))

  const store = api.app.estatus.store
  const server = (await store.createServer(validServer({ name: 'documented', snmp: { enabled: true, community: 'secret', disks: [{ index: 1, name: 'C:' }] } }))).value.id
  const group = (await store.createGroup({ name: 'Documented', serverIds: [server] })).value.id
  const token = (await api.call('POST', '/api/auth/tokens', { name: 'to-revoke', role: 'read' }, admin)).json.data.id
  const channel = (await store.collection('channels').create({ name: 'Documented', type: 'slack', url: 'http://127.0.0.1:9/services/x' })).value.id
  const rule = (await store.collection('alertRules').create({ name: 'Documented', on: ['down'], channelIds: [channel] })).value.id
  const window = (await store.collection('maintenance').create({ name: 'Documented', start: '2025-01-01T00:00:00Z', end: '2025-01-01T01:00:00Z' })).value.id
  const table = exchanges({ server, group, token, channel, rule, window, document: store.document() })

  const operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ key: `${method} ${path}`, method, operation })))
  t.same(operations.map(op => op.key).sort(), Object.keys(table).sort(), 'every route is in the document, and this test exercises each')

  const ajv = new Ajv2020({ strict: false, allErrors: true })
  for (const key of Object.keys(table)) {
    const { method, operation } = operations.find(op => op.key === key)!
    t.ok(operation.tags?.length && operation.summary, `${key}: tags and a summary`)
    t.ok(Array.isArray(operation.security), `${key}: says who may call it`)
    const { path, body } = table[key]!
    const answer = key === 'get /api/events'
      ? await statusOf(api.url, path, admin).then(raw => ({ status: raw.status, type: String(raw.headers['content-type']), json: undefined as unknown, text: raw.body }))
      : await api.call(method.toUpperCase(), path, body, admin).then(raw => ({ status: raw.status, type: String(raw.headers['content-type']), json: raw.json, text: raw.text }))
    const documented = operation.responses[String(answer.status)]
    t.ok(documented, `${key}: answered ${answer.status}, which the document lists`)
    const mediaType = Object.keys(documented?.content ?? {}).find(type => answer.type.startsWith(type))
    t.ok(mediaType, `${key}: ${answer.type} is a documented content type`)
    const schema = documented?.content?.[mediaType!]?.schema
    const value = mediaType === 'application/json' ? answer.json : answer.text
    const check = ajv.compile(schema ?? {})
    t.ok(check(value), `${key}: the real answer validates against the document (${ajv.errorsText(check.errors)})`)
  }
})

t.test('the document is generated with the examples and the error envelope', async t => {
  const api = await startApp(t, { pingIntervalMs: 3600000 })
  const document = await documentOf(api, {})
  const post = document.paths['/api/config/servers']!.post as Operation & { requestBody: { content: { 'application/json': { schema: { properties: object } } } } }
  t.match(JSON.stringify(post.requestBody), /web-1\.example\.net/, 'a request example')
  t.match(JSON.stringify(document.paths['/api/auth/tokens']!.post!.responses['201']), /tok-3f9a1c2e/, 'a response example')
  t.ok('dnsAddress' in post.requestBody.content['application/json'].schema.properties, 'the canonical server body from the TypeBox schema')
  t.match(post.responses['4XX'], { content: { 'application/json': { schema: { required: ['success', 'error'] } } } }, 'errors are the envelope')
  t.same(document.paths['/health']!.get!.security, [], '/health is open')
})

t.test('/docs serves the reference UI from the package, with no asset from another host', async t => {
  const api = await startApp(t, { pingIntervalMs: 3600000 })
  const page = await api.call('GET', '/docs')
  t.equal(page.status, 200)
  const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map(match => match[1]!)
  t.ok(assets.length >= 4, `assets: ${assets.join(', ')}`)
  for (const asset of assets) {
    t.match(asset, /^\/docs\/static\//, `${asset} is served here`)
    t.equal((await api.call('GET', asset)).status, 200, `${asset} loads`)
  }
  const initializer = await api.call('GET', '/docs/static/swagger-initializer.js')
  t.match(initializer.text, /validatorUrl: null/, 'no call to the online validator')
  t.equal((await api.call('GET', '/docs/json')).status, 200, 'the UI reads the same document')
})
