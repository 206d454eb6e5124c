import t from 'tap'
import { waitFor } from './support/wait.ts'
import { connectEvents } from './support/sse.ts'
import { populated } from './support/backup-support.ts'

t.test('export → wipe → import gives a byte-identical configuration, and the usual events', async t => {
  const { api, admin } = await populated(t)
  const before = await api.fileText()
  const exported = await api.call('GET', '/api/config/export?secrets=include', undefined, admin)
  t.equal(exported.status, 200)
  t.match(exported.headers['content-disposition'], /attachment; filename="estatus-config\.json"/)
  t.same(exported.json.data, JSON.parse(before), 'the export is the stored document')

  for (const group of (await api.call('GET', '/api/config/groups')).json.data) await api.call('DELETE', `/api/config/groups/${group.id}`, undefined, admin)
  for (const server of (await api.call('GET', '/api/config/servers')).json.data) await api.call('DELETE', `/api/config/servers/${server.id}`, undefined, admin)
  t.same((await api.call('GET', '/api/config/servers')).json.data, [], 'wiped')

  const events = await connectEvents(api.url)
  t.teardown(() => events.close())
  await waitFor(() => events.messages.some(message => message.type === 'initial'))
  const imported = await api.call('POST', '/api/config/import', exported.json.data, admin)
  t.same(imported.json, { success: true, data: { servers: 3, groups: 2, channels: 2, alertRules: 1, maintenance: 1, added: 3, updated: 0, removed: 0, groupsChanged: true } })
  t.equal(await api.fileText(), before, 'the data file is byte for byte what it was')
  await waitFor(() => events.messages.some(message => message.type === 'groupsChanged'), 10_000, 'groupsChanged')
  const published = events.messages.filter(message => !['connected', 'initial'].includes(message.type))
  t.same(published.map(message => message.type), ['serverAdded', 'serverAdded', 'serverAdded', 'groupsChanged'], 'one event per item, as for any change')
  t.notOk(/password-of-|secret-of-/.test(JSON.stringify(published)), 'the events carry no secret')
  t.same((await api.call('GET', '/api/config/alert-rules')).json.data.map((rule: { name: string }) => rule.name), ['down'], 'the alert configuration is back')
  t.same((await api.call('GET', '/api/servers')).json.data.map((server: { name: string }) => server.name), ['alpha', 'beta', 'gamma'], 'the monitor has them again')
})

t.test('an export without secrets masks them; importing it back keeps the stored ones', async t => {
  const { api, admin } = await populated(t)
  const before = await api.fileText()
  const masked = await api.call('GET', '/api/config/export', undefined, admin)
  t.notOk(/community-of-|password-of-|secret-of-/.test(masked.text), 'no secret in the export')
  t.equal(masked.json.data.servers[0].snmp.community, '********')
  t.equal(masked.json.data.channels[0].secret, '********')
  t.equal(masked.json.data.channels[1].password, '********')
  const answer = await api.call('POST', '/api/config/import', masked.json, admin)
  t.equal(answer.status, 200, 'the whole export answer is accepted too')
  t.same(answer.json.data, { servers: 3, groups: 2, channels: 2, alertRules: 1, maintenance: 1, added: 0, updated: 0, removed: 0, groupsChanged: false })
  t.equal(await api.fileText(), before, 'secrets kept: nothing changed')

  const stranger = structuredClone(masked.json.data)
  stranger.servers[1].id = 'server-elsewhere'
  stranger.groups[1].serverIds = ['server-elsewhere']
  stranger.alertRules = []
  stranger.maintenance = []
  stranger.channels[0].id = 'channel-elsewhere'
  const refused = await api.call('POST', '/api/config/import', stranger, admin)
  t.equal(refused.status, 400)
  t.same(refused.json.validationErrors, {
    'servers.1.snmp.community': 'is masked and this server has no stored value: export with secrets included',
    'servers.1.netapp.password': 'is masked and this server has no stored value: export with secrets included',
    'channels.0.secret': 'is masked and this channel has no stored value: export with secrets included'
  })
  t.equal(await api.fileText(), before, 'a refused import changes nothing')
})

t.test('an invalid document is refused with the field named, and nothing changes', async t => {
  const { api, admin } = await populated(t)
  const before = await api.fileText()
  const document = (await api.call('GET', '/api/config/export?secrets=include', undefined, admin)).json.data
  const cases: Array<[string, unknown, RegExp]> = [
    ['not a document', [1, 2], /Validation failed/],
    ['a bad address', { ...document, servers: [{ ...document.servers[0], ip: '999.1.1.1' }] }, /servers\.0\.ip: Invalid IPv4 address/],
    ['an unknown server in a group', { ...document, servers: [] }, /groups\.0\.serverIds: unknown server ids/],
    ['an unknown field', { ...document, extra: true }, /extra: is not a known field/],
    ['a rule naming an unknown channel', { ...document, channels: [document.channels[0]] }, /alertRules\.0\.channelIds\.1: unknown channel 'channel-2'/],
    ['a channel of an unknown type', { ...document, channels: [{ ...document.channels[0], type: 'pager' }, document.channels[1]] }, /^Validation failed: channels\.0\.type: must be one of: webhook, slack, teams, email$/],
    ['a window ending before it starts', { ...document, maintenance: [{ ...document.maintenance[0], end: '2025-01-07T21:00:00Z' }] }, /maintenance\.0\.end: must be after start/],
    ['a version-1 document carrying channels', { version: 1, nextServerId: 1, nextGroupId: 1, servers: [], groups: [], channels: [] }, /channels: is not a field of a version-1 document/],
    ['version 3', { ...document, version: 3 }, /version: must be 2/]
  ]
  for (const [what, body, message] of cases) {
    const answer = await api.call('POST', '/api/config/import', body, admin)
    t.equal(answer.status, 400, what)
    t.match(answer.json.error, message, what)
  }
  t.equal((await api.call('POST', '/api/config/import', '{"version": 1,', { 'content-type': 'application/json', ...admin })).status, 400, 'malformed JSON')
  t.equal(await api.fileText(), before)
})

t.test('a version-1 document (an older backup) is imported as version 2 with no alert configuration', async t => {
  const { api, admin } = await populated(t)
  const document = (await api.call('GET', '/api/config/export?secrets=include', undefined, admin)).json.data
  const { version: _, nextChannelId, nextRuleId, nextMaintenanceId, channels, alertRules, maintenance, ...rest } = document
  const answer = await api.call('POST', '/api/config/import', { ...rest, version: 1 }, admin)
  t.equal(answer.status, 200, answer.text)
  t.match(answer.json.data, { servers: 3, groups: 2, channels: 0, alertRules: 0, maintenance: 0, added: 0, updated: 0, removed: 0 })
  const stored = JSON.parse(await api.fileText())
  t.match(stored, { version: 2, channels: [], alertRules: [], maintenance: [] })
  t.equal(stored.nextChannelId, nextChannelId, 'counters never go back: ids stay unused after a restore')
})
