// The alert configuration of SPEC §10 through the real HTTP API and data file: channels,
// alert rules and maintenance windows, their ids, ETags, secrets, references, the version-1
// migration, and that none of it reaches /api/events. Bad input: test/bad-input.test.ts.
import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startApp, tempDir, validServer, type Running } from './support/app.ts'
import { bearer, seedTokens } from './support/auth-support.ts'
import { connectEvents } from './support/sse.ts'
import { waitFor } from './support/wait.ts'

const CHANNELS = '/api/config/channels'
const RULES = '/api/config/alert-rules'
const WINDOWS = '/api/config/maintenance'
const quiet = { pingIntervalMs: 3600000, diskIntervalMs: 3600000, history: false }

const webhook = { name: 'On call', type: 'webhook', url: 'https://hooks.example.net/estatus', secret: 'webhook-secret-1', headers: { 'X-Team': 'ops' } }
const email = { name: 'Mail', type: 'email', host: 'smtp.example.net', username: 'estatus', password: 'smtp-password-1', from: 'estatus@example.net', to: ['ops@example.net'] }

async function created (api: Running, path: string, body: unknown, headers: Record<string, string> = {}) {
  const answer = await api.call('POST', path, body, headers)
  if (answer.status !== 201) throw new Error(`POST ${path} answered ${answer.status}: ${answer.text}`)
  return answer.json.data
}

const stored = async (api: Running) => JSON.parse(await api.fileText())

t.test('channels, alert rules and maintenance windows: CRUD with ids, defaults, ETags and If-Match', async t => {
  const api = await startApp(t, quiet)
  const server = (await created(api, '/api/config/servers', validServer())).id
  const channel = await created(api, CHANNELS, webhook)
  t.same(channel, { id: 'channel-1', ...webhook, secret: '********', headers: { 'X-Team': '********' } }, 'generated id, secret and header values masked')

  const rule = await api.call('POST', RULES, { name: '  Down  ', on: ['down', 'up'], channelIds: [channel.id] })
  t.equal(rule.status, 201)
  t.same(rule.json.data, {
    id: 'rule-1',
    name: 'Down',
    enabled: true,
    scope: { serverIds: [], groupIds: [] },
    on: ['down', 'up'],
    forSeconds: 0,
    renotifyMinutes: 0,
    channelIds: ['channel-1']
  }, 'name trimmed, defaults filled in')
  t.match(rule.headers.etag, /^"[\w-]{20}"$/)

  const window = await created(api, WINDOWS, { name: 'Patch night', scope: { serverIds: [server], groupIds: [] }, start: '2025-01-07T22:00:00+01:00', end: '2025-01-08T00:00:00+01:00', repeat: { every: 'week' } })
  t.equal(window.id, 'maintenance-1')

  for (const [path, item] of [[CHANNELS, channel], [RULES, rule.json.data], [WINDOWS, window]] as const) {
    const one = await api.call('GET', `${path}/${item.id}`)
    t.same(one.json, { success: true, data: item }, `GET ${path}/:id`)
    t.same((await api.call('GET', path)).json, { success: true, data: [item] }, `GET ${path}`)
    t.equal((await api.call('GET', `${path}/nope`)).status, 404)
  }
  t.equal((await api.call('GET', `${RULES}/nope`)).json.error, "Alert rule with ID 'nope' not found")
  t.equal((await api.call('GET', `${WINDOWS}/nope`)).json.error, "Maintenance window with ID 'nope' not found")

  // If-Match: a stale tag changes nothing; the current one works and the tag moves on.
  const etag = (await api.call('GET', `${RULES}/rule-1`)).headers.etag as string
  const renamed = await api.call('PUT', `${RULES}/rule-1`, { ...rule.json.data, name: 'Renamed' }, { 'if-match': etag })
  t.equal(renamed.status, 200)
  t.not(renamed.headers.etag, etag)
  const stale = await api.call('PUT', `${RULES}/rule-1`, { ...rule.json.data, name: 'Lost update' }, { 'if-match': etag })
  t.equal(stale.status, 409)
  t.match(stale.json.error, /Alert rule with ID 'rule-1' was changed by someone else/)
  t.equal((await api.call('DELETE', `${WINDOWS}/maintenance-1`, undefined, { 'if-match': etag })).status, 409, 'a tag of another item')
  t.equal((await stored(api)).alertRules[0].name, 'Renamed')

  // PUT is the full item: what it omits goes back to its default.
  const put = await api.call('PUT', `${RULES}/rule-1`, { name: 'Minimal', on: ['down'], channelIds: ['channel-1'] })
  t.same(put.json.data, { id: 'rule-1', name: 'Minimal', enabled: true, scope: { serverIds: [], groupIds: [] }, on: ['down'], forSeconds: 0, renotifyMinutes: 0, channelIds: ['channel-1'] })

  t.same((await api.call('DELETE', `${WINDOWS}/maintenance-1`)).json, { success: true, data: { deletedId: 'maintenance-1' } })
  t.equal((await api.call('DELETE', `${WINDOWS}/maintenance-1`)).status, 404)
})

t.test('ids: generated ones are never reused, a client may choose one, and a generated-looking one moves the counter', async t => {
  const api = await startApp(t, quiet)
  const slack = { name: 'Slack', type: 'slack', url: 'https://hooks.slack.com/services/T/B/x' }
  t.equal((await created(api, CHANNELS, slack)).id, 'channel-1')
  await api.call('DELETE', `${CHANNELS}/channel-1`)
  t.equal((await created(api, CHANNELS, slack)).id, 'channel-2', 'a deleted id is not handed out again')
  t.equal((await created(api, CHANNELS, { ...slack, id: 'pager' })).id, 'pager')
  t.equal((await created(api, CHANNELS, { ...slack, id: 'channel-41' })).id, 'channel-41')
  t.equal((await created(api, CHANNELS, { ...slack, id: '' })).id, 'channel-42', 'an empty id means "generate one"')
  t.equal((await api.call('POST', CHANNELS, { ...slack, id: 'pager' })).status, 409)
  t.equal((await created(api, RULES, { id: 'rule-9007199254740993', name: 'r', on: ['down'], channelIds: ['pager'] })).id, 'rule-9007199254740993')
  t.equal((await created(api, RULES, { name: 'r', on: ['down'], channelIds: ['pager'] })).id, 'rule-1', 'an id past the safe range is a plain name')
  const document = await stored(api)
  t.match(document, { nextChannelId: 43, nextRuleId: 2, nextMaintenanceId: 1 })
})

t.test('secrets are masked in every answer, kept when sent back masked or empty, and dropped with a new type', async t => {
  const api = await startApp(t, quiet)
  const hook = await api.call('POST', CHANNELS, webhook)
  const mail = await api.call('POST', CHANNELS, email)
  t.equal(mail.json.data.password, '********')
  const answers = [hook, mail, await api.call('GET', CHANNELS), await api.call('GET', `${CHANNELS}/channel-1`)]

  // The browser-style round trip: what a GET returned, sent back as a PUT.
  const roundTrip = await api.call('PUT', `${CHANNELS}/channel-1`, { ...hook.json.data, name: 'Renamed' })
  const emptied = await api.call('PUT', `${CHANNELS}/channel-2`, { ...mail.json.data, password: '' })
  answers.push(roundTrip, emptied)
  for (const answer of answers) {
    t.equal(answer.status < 300, true, answer.text)
    t.notMatch(answer.text, /webhook-secret|smtp-password/, 'no secret in the answer')
  }
  let document = await stored(api)
  t.equal(document.channels[0].secret, 'webhook-secret-1', 'the mask kept the stored secret')
  t.equal(document.channels[0].name, 'Renamed')
  t.equal(document.channels[1].password, 'smtp-password-1', 'an empty password kept the stored one')
  t.match(api.app.estatus.store.channel('channel-1'), { secret: 'webhook-secret-1' }, 'the senders read it in clear')

  const changed = await api.call('PUT', `${CHANNELS}/channel-1`, { ...hook.json.data, secret: 'webhook-secret-2' })
  t.equal(changed.json.data.secret, '********')
  t.equal((await stored(api)).channels[0].secret, 'webhook-secret-2', 'a new secret replaces the stored one')

  // The same ids, another type: nothing carries over from the old one.
  const retyped = await api.call('PUT', `${CHANNELS}/channel-1`, { name: 'Now mail', type: 'email', host: 'smtp.example.net', from: 'a@example.net', to: ['b@example.net'], password: '********' })
  t.equal(retyped.status, 200, retyped.text)
  t.notOk('password' in retyped.json.data, 'a mask with nothing stored of that type stores nothing')
  document = await stored(api)
  t.same(Object.keys(document.channels[0]), ['id', 'name', 'type', 'host', 'port', 'secure', 'from', 'to'], 'the email fields only, in schema order')

  const exported = await api.call('GET', '/api/config/export')
  t.notMatch(exported.text, /webhook-secret|smtp-password/, 'the export masks them too')
  const masked = await api.call('GET', `${CHANNELS}/channel-2`)
  const secretChanged = await api.call('PUT', `${CHANNELS}/channel-2`, { ...masked.json.data, password: 'smtp-password-2' })
  t.equal(secretChanged.headers.etag, masked.headers.etag, 'the ETag is a digest of the masked item: it says nothing about the secret')
})

t.test('header values and Slack/Teams URLs are masked in answers, exports and ETags, and kept when sent back masked', async t => {
  const dir = await tempDir(t)
  const admin = bearer((await seedTokens(dir)).admin!)
  const api = await startApp(t, { ...quiet, auth: 'off' }, dir)
  const hook = await created(api, CHANNELS, { ...webhook, headers: { Authorization: 'Bearer hdr-token-4711', 'X-Empty': '' } })
  const slack = await created(api, CHANNELS, { name: 'Slack', type: 'slack', url: 'https://hooks.slack.com/services/T0/B0/slack-token-4711?x=1' })
  const teams = await created(api, CHANNELS, { name: 'Teams', type: 'teams', url: 'https://example.webhook.office.com/workflows/teams-token-4711' })
  t.same(hook.headers, { Authorization: '********', 'X-Empty': '' })
  t.equal(slack.url, 'https://hooks.slack.com/********', 'the origin stays visible')
  t.equal(teams.url, 'https://example.webhook.office.com/********')
  const answers = [await api.call('GET', CHANNELS), await api.call('GET', `${CHANNELS}/${slack.id}`), await api.call('GET', '/api/config/export', undefined, admin)]
  for (const answer of answers) {
    t.equal(answer.status, 200)
    t.notMatch(answer.text, /4711/, 'no credential in the answer')
  }
  t.match((await api.call('GET', '/api/config/export?secrets=include', undefined, admin)).text, /slack-token-4711/, 'an export with secrets has them')

  // Sent back as a GET returned them: the stored values stay, and so does the ETag.
  const etag = (await api.call('GET', `${CHANNELS}/${slack.id}`)).headers.etag
  const renamed = await api.call('PUT', `${CHANNELS}/${hook.id}`, { ...hook, name: 'Renamed', headers: { authorization: '********', 'X-Empty': '' } })
  t.equal(renamed.status, 200, renamed.text)
  const sentBack = await api.call('PUT', `${CHANNELS}/${slack.id}`, slack)
  t.equal(sentBack.status, 200, sentBack.text)
  t.match(api.app.estatus.store.channel(hook.id), { name: 'Renamed', headers: { authorization: 'Bearer hdr-token-4711', 'X-Empty': '' } }, 'a masked header keeps its value, whatever the case of its name')
  t.match(api.app.estatus.store.channel(slack.id), { url: 'https://hooks.slack.com/services/T0/B0/slack-token-4711?x=1' })
  const changed = await api.call('PUT', `${CHANNELS}/${slack.id}`, { ...slack, url: 'https://hooks.slack.com/services/T0/B0/slack-token-0815' })
  t.equal(changed.headers.etag, etag, 'the ETag is a digest of the masked item: it says nothing about the URL')
  t.match(api.app.estatus.store.channel(slack.id), { url: 'https://hooks.slack.com/services/T0/B0/slack-token-0815' }, 'a new URL replaces it')

  // Back onto the same install, an export without secrets keeps them; a masked one with nothing stored is refused.
  const exported = (await api.call('GET', '/api/config/export', undefined, admin)).json
  t.equal((await api.call('POST', '/api/config/import', exported, admin)).status, 200)
  t.match(api.app.estatus.store.channel(hook.id), { headers: { authorization: 'Bearer hdr-token-4711' } })
  const elsewhereDir = await tempDir(t)
  const elsewhereAdmin = bearer((await seedTokens(elsewhereDir)).admin!)
  const elsewhere = await startApp(t, { ...quiet, auth: 'off' }, elsewhereDir)
  const refused = await elsewhere.call('POST', '/api/config/import', exported, elsewhereAdmin)
  t.equal(refused.status, 400)
  t.match(refused.json.validationErrors, { 'channels.0.secret': /masked/, 'channels.0.headers.authorization': /masked/, 'channels.1.url': /masked/ })
})

t.test('a channel is checked against the variant its type names, with one readable error for an unknown type', async t => {
  const api = await startApp(t, quiet)
  const unknown = await api.call('POST', CHANNELS, { name: 'x', type: 'pager', number: 5 })
  t.equal(unknown.status, 400)
  t.equal(unknown.json.error, 'Validation failed: type: must be one of: webhook, slack, teams, email')
  const missing = await api.call('POST', CHANNELS, { name: 'x' })
  t.equal(missing.json.error, 'Validation failed: type: is required: one of webhook, slack, teams, email')
  const mixed = await api.call('POST', CHANNELS, { name: 'x', type: 'slack', url: 'https://hooks.slack.com/x', to: ['a@example.net'] })
  t.equal(mixed.json.error, 'Validation failed: to: is not a known field', 'only the slack variant speaks')
  const emailErrors = await api.call('POST', CHANNELS, { name: 'x', type: 'email', host: 'smtp.example.net', from: 'nobody', to: [] })
  t.same(emailErrors.json.validationErrors, { from: 'must be an e-mail address', to: 'must not be empty' })
  t.same((await stored(api)).channels, [])
})

t.test('a deleted server or group leaves rule and window scopes in the same write; an emptied scope never widens', async t => {
  const api = await startApp(t, quiet)
  const [a, b] = [(await created(api, '/api/config/servers', validServer({ name: 'a' }))).id, (await created(api, '/api/config/servers', validServer({ name: 'b' }))).id]
  const group = (await created(api, '/api/config/groups', { name: 'G', serverIds: [a] })).id
  const channel = (await created(api, CHANNELS, webhook)).id
  const both = await created(api, RULES, { name: 'both', on: ['down'], scope: { serverIds: [a, b], groupIds: [] }, channelIds: [channel] })
  const onlyA = await created(api, RULES, { name: 'only a', on: ['down'], scope: { serverIds: [a], groupIds: [] }, channelIds: [channel] })
  const onlyGroup = await created(api, RULES, { name: 'only the group', on: ['down'], scope: { serverIds: [], groupIds: [group] }, channelIds: [channel] })
  const everyServer = await created(api, RULES, { name: 'every server', on: ['down'], channelIds: [channel] })
  await created(api, WINDOWS, { name: 'a only', scope: { serverIds: [a], groupIds: [] }, start: '2025-01-01T00:00:00Z', end: '2025-01-01T01:00:00Z' })
  const windowAB = await created(api, WINDOWS, { name: 'a and b', scope: { serverIds: [a, b], groupIds: [] }, start: '2025-01-01T00:00:00Z', end: '2025-01-01T01:00:00Z' })

  let writes = 0
  const stop = api.app.estatus.store.onWrite(() => { writes++ })
  t.equal((await api.call('DELETE', `/api/config/servers/${a}`)).status, 200)
  stop()
  t.equal(writes, 1, 'one write')
  const document = await stored(api)
  const rule = (id: string) => document.alertRules.find((item: { id: string }) => item.id === id)
  t.same(rule(both.id).scope, { serverIds: [b], groupIds: [] }, 'the server left the scope')
  t.equal(rule(both.id).enabled, true)
  t.same(rule(onlyA.id), { ...onlyA, scope: { serverIds: [], groupIds: [] }, enabled: false }, 'a rule whose whole scope went is disabled, not widened to every server')
  t.same(rule(everyServer.id), everyServer, 'a rule for every server is untouched')
  t.same(document.maintenance.map((window: { id: string }) => window.id), [windowAB.id], 'a window whose whole scope went is removed, not widened')
  t.same(document.maintenance[0].scope, { serverIds: [b], groupIds: [] })

  t.equal((await api.call('DELETE', `/api/config/groups/${group}`)).status, 200)
  t.same((await api.call('GET', `${RULES}/${onlyGroup.id}`)).json.data, { ...onlyGroup, scope: { serverIds: [], groupIds: [] }, enabled: false }, 'so does a deleted group')
})

t.test('a channel that rules send to is not deleted: 409 names the rules and nothing changes', async t => {
  const api = await startApp(t, quiet)
  const channel = (await created(api, CHANNELS, webhook)).id
  const other = (await created(api, CHANNELS, email)).id
  const first = await created(api, RULES, { name: 'first', on: ['down'], channelIds: [channel, other] })
  await created(api, RULES, { name: 'second', on: ['up'], channelIds: [channel] })
  const before = await api.fileText()
  const refused = await api.call('DELETE', `${CHANNELS}/${channel}`)
  t.equal(refused.status, 409)
  t.equal(refused.json.error, "Channel with ID 'channel-1' is used by the alert rules 'rule-1', 'rule-2': remove it from them first")
  t.equal(await api.fileText(), before)

  await api.call('PUT', `${RULES}/${first.id}`, { ...first, channelIds: [other] })
  await api.call('DELETE', `${RULES}/rule-2`)
  t.equal((await api.call('DELETE', `${CHANNELS}/${channel}`)).status, 200, 'free once no rule names it')
})

t.test('alert configuration changes are not published on /api/events', async t => {
  const api = await startApp(t, quiet)
  const events = await connectEvents(api.url)
  t.teardown(() => events.close())
  await waitFor(() => events.messages.some(message => message.type === 'initial'))
  const channel = (await created(api, CHANNELS, webhook)).id
  const rule = await created(api, RULES, { name: 'r', on: ['down'], channelIds: [channel] })
  await api.call('PUT', `${RULES}/${rule.id}`, { ...rule, forSeconds: 30 })
  await created(api, WINDOWS, { name: 'w', start: '2025-01-01T00:00:00Z', end: '2025-01-01T01:00:00Z' })
  await api.call('DELETE', `${RULES}/${rule.id}`)
  // A server change afterwards: once its event is here, any earlier one would be too.
  await created(api, '/api/config/servers', validServer())
  await waitFor(() => events.messages.some(message => message.type === 'serverAdded'), 10_000, 'serverAdded')
  const published = events.messages.filter(message => !['connected', 'initial', 'heartbeat'].includes(message.type))
  t.same(published.map(message => message.type), ['serverAdded'])
  t.notMatch(events.raw(), /webhook-secret/)
})

t.test('mutating routes need a write token once tokens exist; reading needs none', async t => {
  const dir = await tempDir(t)
  const tokens = await seedTokens(dir)
  const api = await startApp(t, quiet, dir)
  for (const path of [CHANNELS, RULES, WINDOWS]) {
    t.equal((await api.call('POST', path, {})).status, 401, `POST ${path} without a token`)
    t.equal((await api.call('POST', path, {}, bearer(tokens.read!))).status, 403, `POST ${path} with a read token`)
    t.equal((await api.call('GET', path)).status, 200, `GET ${path} is open`)
  }
  t.equal((await api.call('POST', CHANNELS, webhook, bearer(tokens.write!))).status, 201)
  t.equal((await api.call('DELETE', `${CHANNELS}/channel-1`)).status, 401)
})

const V1 = {
  version: 1,
  nextServerId: 3,
  nextGroupId: 2,
  servers: [{ id: 'server-001', name: 'a', ip: '10.0.0.1', dnsAddress: '127.0.0.2' }, { id: 'server-002', name: 'b', ip: '10.0.0.2', dnsAddress: '127.0.0.3' }],
  groups: [{ id: 'group-1', name: 'G', order: 1, serverIds: ['server-001'], rowNumber: 1, rowOrder: 1 }]
}

t.test('a version-1 data file is migrated on start: same servers and groups, empty alert configuration', async t => {
  const dir = await tempDir(t)
  const dataFile = join(dir, 'estatus.json')
  await writeFile(dataFile, JSON.stringify(V1, null, 2) + '\n')
  const api = await startApp(t, { ...quiet, dataFile }, dir)
  const text = await api.fileText()
  t.equal(text, JSON.stringify({
    version: 2,
    nextServerId: 3,
    nextGroupId: 2,
    nextChannelId: 1,
    nextRuleId: 1,
    nextMaintenanceId: 1,
    servers: V1.servers,
    groups: V1.groups,
    channels: [],
    alertRules: [],
    maintenance: []
  }, null, 2) + '\n', 'written back as version 2, in the file order')
  t.same((await api.call('GET', '/api/config/servers')).json.data.map((server: { id: string }) => server.id), ['server-001', 'server-002'])
  t.same((await api.call('GET', CHANNELS)).json.data, [])
  t.equal((await created(api, CHANNELS, webhook)).id, 'channel-1')
})

t.test('a version-1 document written by hand while running is accepted and migrated; a half-migrated one is refused', async t => {
  const api = await startApp(t, quiet)
  const channel = (await created(api, CHANNELS, webhook)).id
  await writeFile(api.dataFile, JSON.stringify({ ...V1, channels: [] }))
  await waitFor(async () => (await api.call('GET', '/health')).json.checks.store.ok === false, 10000, 'the rejected edit reported')
  t.match((await api.call('GET', '/health')).json.checks.store.error, /channels: is not a field of a version-1 document/)
  t.same((await api.call('GET', CHANNELS)).json.data.map((item: { id: string }) => item.id), [channel], 'the last good configuration is kept')

  await writeFile(api.dataFile, JSON.stringify(V1))
  await waitFor(async () => (await api.call('GET', '/api/config/servers')).json.data.length === 2, 10000, 'the edit applied')
  const document = await waitFor(async () => { const text = await api.fileText(); return text.includes('"version": 2') ? JSON.parse(text) : null }, 10000, 'written back as version 2')
  t.same(document.channels, [], 'a whole-document edit replaces the alert configuration too')
  t.equal(document.nextChannelId, 2, 'counters never go back: channel-1 is not handed out again')
})
