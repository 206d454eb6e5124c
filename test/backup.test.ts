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
  t.same(imported.json, { success: true, data: { servers: 3, groups: 2, added: 3, updated: 0, removed: 0, groupsChanged: true } })
  t.equal(await api.fileText(), before, 'the data file is byte for byte what it was')
  await waitFor(() => events.messages.some(message => message.type === 'groupsChanged'), 5000, 'groupsChanged')
  const published = events.messages.filter(message => !['connected', 'initial'].includes(message.type))
  t.same(published.map(message => message.type), ['serverAdded', 'serverAdded', 'serverAdded', 'groupsChanged'], 'one event per item, as for any change')
  t.notOk(JSON.stringify(published).includes('password-of-'), 'the events carry no secret')
  t.same((await api.call('GET', '/api/servers')).json.data.map((server: { name: string }) => server.name), ['alpha', 'beta', 'gamma'], 'the monitor has them again')
})

t.test('an export without secrets masks them; importing it back keeps the stored ones', async t => {
  const { api, admin } = await populated(t)
  const before = await api.fileText()
  const masked = await api.call('GET', '/api/config/export', undefined, admin)
  t.notOk(masked.text.includes('community-of-') || masked.text.includes('password-of-'), 'no secret in the export')
  t.equal(masked.json.data.servers[0].snmp.community, '********')
  const answer = await api.call('POST', '/api/config/import', masked.json, admin)
  t.equal(answer.status, 200, 'the whole export answer is accepted too')
  t.same(answer.json.data, { servers: 3, groups: 2, added: 0, updated: 0, removed: 0, groupsChanged: false })
  t.equal(await api.fileText(), before, 'secrets kept: nothing changed')

  const stranger = structuredClone(masked.json.data)
  stranger.servers[1].id = 'server-elsewhere'
  stranger.groups[1].serverIds = ['server-elsewhere']
  const refused = await api.call('POST', '/api/config/import', stranger, admin)
  t.equal(refused.status, 400)
  t.same(refused.json.validationErrors, {
    'servers.1.snmp.community': 'is masked and this server has no stored value: export with secrets included',
    'servers.1.netapp.password': 'is masked and this server has no stored value: export with secrets included'
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
    ['an unknown field', { ...document, extra: true }, /extra: is not a known field/]
  ]
  for (const [what, body, message] of cases) {
    const answer = await api.call('POST', '/api/config/import', body, admin)
    t.equal(answer.status, 400, what)
    t.match(answer.json.error, message, what)
  }
  t.equal((await api.call('POST', '/api/config/import', '{"version": 1,', { 'content-type': 'application/json', ...admin })).status, 400, 'malformed JSON')
  t.equal(await api.fileText(), before)
})
