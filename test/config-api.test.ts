import t from 'tap'
import { startApp, validServer } from './support/app.ts'

const MASK = '********'

t.test('servers: create, read, update, delete with generated ids that are never reused', async t => {
  const api = await startApp(t)
  t.same((await api.call('GET', '/api/config/servers')).json, { success: true, data: [] })

  const created = await api.call('POST', '/api/config/servers', validServer({ name: '  web-1  ' }))
  t.equal(created.status, 201)
  t.match(created.json, { success: true, data: { id: 'server-001', name: 'web-1', ip: '10.1.2.3', dnsAddress: '127.0.0.2', dns: '127.0.0.2' } })
  t.ok(created.headers.etag, 'create answers with an ETag')

  const second = await api.call('POST', '/api/config/servers', validServer({ name: 'web-2' }))
  t.equal(second.json.data.id, 'server-002')
  t.equal((await api.call('DELETE', '/api/config/servers/server-002')).json.data.deletedId, 'server-002')
  const third = await api.call('POST', '/api/config/servers', validServer({ name: 'web-3', id: '' }))
  t.equal(third.json.data.id, 'server-003', 'a deleted id is not handed out again; id "" means generate')

  const one = await api.call('GET', '/api/config/servers/server-001')
  t.equal(one.status, 200)
  t.equal(one.json.data.name, 'web-1')

  const updated = await api.call('PUT', '/api/config/servers/server-001', validServer({ name: 'web-1b', consecutiveFailures: 2 }))
  t.equal(updated.status, 200)
  t.match(updated.json.data, { id: 'server-001', name: 'web-1b', consecutiveFailures: 2 })

  const missing = await api.call('GET', '/api/config/servers/nope')
  t.equal(missing.status, 404)
  t.same(missing.json, { success: false, error: "Server with ID 'nope' not found" })
  t.equal((await api.call('PUT', '/api/config/servers/nope', validServer())).status, 404)
  t.equal((await api.call('DELETE', '/api/config/servers/nope')).json.error, "Server with ID 'nope' not found")

  const explicit = await api.call('POST', '/api/config/servers', validServer({ id: 'db.main_1' }))
  t.equal(explicit.status, 201)
  t.equal(explicit.json.data.id, 'db.main_1')
  const duplicate = await api.call('POST', '/api/config/servers', validServer({ id: 'db.main_1' }))
  t.equal(duplicate.status, 409)
  t.match(duplicate.json, { success: false, error: /already exists/ })

  const list = await api.call('GET', '/api/config/servers')
  t.same(list.json.data.map((server: { id: string }) => server.id), ['server-001', 'server-003', 'db.main_1'])

  const mismatch = await api.call('PUT', '/api/config/servers/server-001', validServer({ id: 'server-003' }))
  t.equal(mismatch.status, 400)
  t.match(mismatch.json.validationErrors, { id: /must match the URL/ })
})

t.test('the three shapes the browser sends are stored as one canonical server', async t => {
  const api = await startApp(t)
  const browserForm = {
    name: 'files',
    ip: '10.0.0.5',
    dns: '127.0.0.5',
    snmpConfig: { enabled: true, community: 'c0mmunity', storageIndexes: [31, 36], diskNames: ['root', ''] },
    netappConfig: { enabled: true, username: 'admin', password: 'pw-1', luns: [{ name: 'lun1', path: '/vol/v1/lun1' }] }
  }
  const created = await api.call('POST', '/api/config/servers', browserForm)
  t.equal(created.status, 201, created.text)
  const { data } = created.json
  t.same(data.snmp, { enabled: true, community: MASK, disks: [{ index: 31, name: 'root' }, { index: 36 }] })
  t.same(data.snmpConfig, { enabled: true, community: MASK, storageIndexes: [31, 36], diskNames: ['root', ''] })
  t.same(data.netapp, { enabled: true, apiType: 'rest', username: 'admin', password: MASK, luns: [{ name: 'lun1', path: '/vol/v1/lun1' }] })
  t.equal(data.dnsAddress, '127.0.0.5')
  t.equal(data.dns, '127.0.0.5')

  // Legacy snmp.storageIndexes inside the canonical block.
  const legacy = await api.call('POST', '/api/config/servers', validServer({ snmp: { enabled: true, storageIndexes: [1, 2], diskNames: ['a', 'b'] } }))
  t.same(legacy.json.data.snmp, { enabled: true, disks: [{ index: 1, name: 'a' }, { index: 2, name: 'b' }] })

  // Canonical wins over its alias.
  const both = await api.call('POST', '/api/config/servers', validServer({ dnsAddress: '127.0.0.7', dns: '127.0.0.8', snmp: { enabled: false, disks: [] }, snmpConfig: { enabled: true, storageIndexes: [9] } }))
  t.equal(both.json.data.dnsAddress, '127.0.0.7')
  t.same(both.json.data.snmp, { enabled: false, disks: [] })

  const file = JSON.parse(await api.fileText())
  const stored = file.servers[0]
  t.notOk('dns' in stored || 'snmpConfig' in stored || 'netappConfig' in stored, 'aliases are never stored')
  t.equal(stored.snmp.community, 'c0mmunity', 'secrets are kept in the file')
  t.equal(stored.netapp.password, 'pw-1')
})

t.test('indexes typed in the edit form without disk names become disks (SPEC §3.3)', async t => {
  const api = await startApp(t)
  // What the edit form sends when a user types indexes and names no disk.
  const typed = await api.call('POST', '/api/config/servers', validServer({ snmp: { enabled: true, community: 'c', storageIndexes: [2, 3], disks: [] } }))
  t.equal(typed.status, 201, typed.text)
  t.same(typed.json.data.snmp.disks, [{ index: 2 }, { index: 3 }], 'the typed indexes are kept')
  t.same(typed.json.data.snmpConfig.storageIndexes, [2, 3])

  const named = await api.call('PUT', `/api/config/servers/${typed.json.data.id}`, validServer({ snmp: { enabled: true, storageIndexes: [5, 6], diskNames: ['root'], disks: [] } }))
  t.same(named.json.data.snmp.disks, [{ index: 5, name: 'root' }, { index: 6 }], 'names come from diskNames where given')
  t.equal(JSON.parse(await api.fileText()).servers[0].snmp.community, 'c', 'the stored community is kept')

  const canonical = await api.call('POST', '/api/config/servers', validServer({ snmp: { enabled: true, storageIndexes: [7], disks: [{ index: 8, name: 'data' }] } }))
  t.same(canonical.json.data.snmp.disks, [{ index: 8, name: 'data' }], 'named disks win over the indexes')
  const none = await api.call('POST', '/api/config/servers', validServer({ snmp: { enabled: true, storageIndexes: [], disks: [] } }))
  t.same(none.json.data.snmp.disks, [], 'no indexes, no disks')
  const junk = await api.call('POST', '/api/config/servers', validServer({ snmp: { enabled: true, storageIndexes: ['x'], disks: [] } }))
  t.equal(junk.status, 400, 'a typed index that is not a number is named')
  t.match(junk.json.validationErrors, { 'snmp.disks.0.index': /integer/ })
})

t.test('secrets never leave the server and survive the browser form round-trip', async t => {
  const api = await startApp(t)
  const { json } = await api.call('POST', '/api/config/servers', validServer({
    snmp: { enabled: true, community: 's3cret-community', disks: [{ index: 31 }] },
    netapp: { enabled: true, apiType: 'zapi', username: 'root', password: 's3cret-password', luns: [{ name: 'l', path: '/vol/a/l' }], verifyTls: false }
  }))
  const id = json.data.id

  // Send back exactly what GET returned, mirrors and masks included.
  const got = await api.call('GET', `/api/config/servers/${id}`)
  const { id: _ignored, ...asReturned } = got.json.data
  const put = await api.call('PUT', `/api/config/servers/${id}`, { ...asReturned, name: 'renamed' })
  t.equal(put.status, 200, put.text)

  // Empty and absent secrets keep the stored ones too.
  await api.call('PUT', `/api/config/servers/${id}`, validServer({
    snmp: { enabled: true, community: '', disks: [{ index: 31 }] },
    netapp: { enabled: true, apiType: 'zapi', username: 'root', luns: [{ name: 'l', path: '/vol/a/l' }] }
  }))
  let stored = JSON.parse(await api.fileText()).servers[0]
  t.equal(stored.snmp.community, 's3cret-community')
  t.equal(stored.netapp.password, 's3cret-password')

  // A new value replaces it.
  await api.call('PUT', `/api/config/servers/${id}`, validServer({
    snmp: { enabled: true, community: 'new-community', disks: [{ index: 31 }] },
    netapp: { enabled: true, apiType: 'zapi', username: 'root', password: 'new-password', luns: [{ name: 'l', path: '/vol/a/l' }] }
  }))
  stored = JSON.parse(await api.fileText()).servers[0]
  t.equal(stored.snmp.community, 'new-community')
  t.equal(stored.netapp.password, 'new-password')

  for (const path of ['/api/config/servers', `/api/config/servers/${id}`]) {
    const { text } = await api.call('GET', path)
    t.notMatch(text, /s3cret|new-community|new-password/, `${path} contains no secret`)
    t.match(text, /\*{8}/)
  }

  // Omitting an optional block on PUT removes it (the body is the full object).
  const bare = await api.call('PUT', `/api/config/servers/${id}`, validServer())
  t.notOk(bare.json.data.snmp)
  t.notOk(bare.json.data.netapp)
})

t.test('ETag and If-Match: a stale write gets 409 and changes nothing', async t => {
  const api = await startApp(t)
  const created = await api.call('POST', '/api/config/servers', validServer())
  const etag = created.headers.etag as string
  const id = created.json.data.id
  t.equal((await api.call('GET', `/api/config/servers/${id}`)).headers.etag, etag, 'GET gives the same version')

  const first = await api.call('PUT', `/api/config/servers/${id}`, validServer({ name: 'a' }), { 'if-match': etag })
  t.equal(first.status, 200)
  t.not(first.headers.etag, etag, 'the version changes with the content')
  const before = await api.fileText()
  const stale = await api.call('PUT', `/api/config/servers/${id}`, validServer({ name: 'b' }), { 'if-match': etag })
  t.equal(stale.status, 409)
  t.match(stale.json, { success: false, error: /changed by someone else/ })
  t.equal((await api.call('DELETE', `/api/config/servers/${id}`, undefined, { 'if-match': etag })).status, 409)
  t.same(await api.fileText(), before, 'the file is unchanged')
  t.equal((await api.call('GET', `/api/config/servers/${id}`)).json.data.name, 'a')
  t.equal((await api.call('PUT', `/api/config/servers/${id}`, validServer({ name: 'c' }))).status, 200, 'without If-Match the last write wins')

  const group = await api.call('POST', '/api/config/groups', { name: 'G' })
  const groupTag = group.headers.etag as string
  await api.call('PUT', `/api/config/groups/${group.json.data.id}`, { name: 'G2' }, { 'if-match': groupTag })
  t.equal((await api.call('PUT', `/api/config/groups/${group.json.data.id}`, { name: 'G3' }, { 'if-match': groupTag })).status, 409)
  t.equal((await api.call('DELETE', `/api/config/groups/${group.json.data.id}`, undefined, { 'if-match': groupTag })).status, 409)
})

t.test('groups: defaults, order, legacy row/position, names, reassign', async t => {
  const api = await startApp(t)
  const ids: string[] = []
  for (let i = 0; i < 3; i++) ids.push((await api.call('POST', '/api/config/servers', validServer({ name: `s${i}` }))).json.data.id)

  const a = await api.call('POST', '/api/config/groups', { id: 'ignored', name: ' Web (prod) ', serverIds: [ids[0]] })
  t.equal(a.status, 201)
  t.same(a.json.data, { id: 'group-1', name: 'Web (prod)', order: 1, serverIds: [ids[0]], rowNumber: 1, rowOrder: 1 })
  const b = await api.call('POST', '/api/config/groups', { name: 'Bases de données', serverIds: [ids[1], ids[2]], row: 2, position: 'right' })
  t.same(b.json.data, { id: 'group-2', name: 'Bases de données', order: 2, serverIds: [ids[1], ids[2]], rowNumber: 2, rowOrder: 2 })
  const c = await api.call('POST', '/api/config/groups', { name: 'First', order: 1, serverIds: [] })
  t.same((await api.call('GET', '/api/config/groups')).json.data.map((g: { id: string }) => g.id), ['group-1', 'group-3', 'group-2'], 'sorted by order')

  const clash = await api.call('POST', '/api/config/groups', { name: 'web (PROD)' })
  t.equal(clash.status, 409)
  t.match(clash.json.error, /already exists/)

  const unknown = await api.call('POST', '/api/config/groups', { name: 'X', serverIds: ['ghost-1', ids[0]] })
  t.equal(unknown.status, 400)
  t.match(unknown.json.validationErrors, { serverIds: /ghost-1/ })

  // The browser's form never sends order: it is kept, and so are the row fields.
  const edited = await api.call('PUT', `/api/config/groups/${b.json.data.id}`, { name: 'DBs', serverIds: [ids[2]] })
  t.same(edited.json.data, { id: 'group-2', name: 'DBs', order: 2, serverIds: [ids[2]], rowNumber: 2, rowOrder: 2 })
  t.equal((await api.call('PUT', `/api/config/groups/${b.json.data.id}`, { id: 'group-9', name: 'DBs' })).status, 400, 'body id must match the URL')
  t.equal((await api.call('PUT', '/api/config/groups/group-99', { name: 'n' })).json.error, "Group with ID 'group-99' not found")

  // Deleting a server removes it from every group in the same write.
  await api.call('PUT', `/api/config/groups/${c.json.data.id}`, { name: 'First', serverIds: [ids[2], ids[0]] })
  await api.call('DELETE', `/api/config/servers/${ids[2]}`)
  const file = JSON.parse(await api.fileText())
  t.same(file.groups.map((g: { serverIds: string[] }) => g.serverIds), [[ids[0]], [], [ids[0]]])

  // reassign=default appends to the lowest-order remaining group; unassign just drops.
  await api.call('PUT', `/api/config/groups/${b.json.data.id}`, { name: 'DBs', serverIds: [ids[1], ids[0]] })
  const moved = await api.call('DELETE', `/api/config/groups/${b.json.data.id}?reassign=default`)
  t.same(moved.json.data, { deletedId: 'group-2', reassignedServers: [ids[1], ids[0]] })
  const afterMove = (await api.call('GET', '/api/config/groups')).json.data
  t.same(afterMove.map((g: { id: string, serverIds: string[] }) => [g.id, g.serverIds]), [['group-1', [ids[0], ids[1]]], ['group-3', [ids[0]]]],
    'group-1 (order 1, created first) got the server it lacked')
  const unassigned = await api.call('DELETE', `/api/config/groups/${a.json.data.id}?reassign=unassign`)
  t.same(unassigned.json.data, { deletedId: 'group-1', reassignedServers: [ids[0], ids[1]] })
  t.equal((await api.call('DELETE', `/api/config/groups/${c.json.data.id}?reassign=sideways`)).status, 400)
  const last = await api.call('DELETE', `/api/config/groups/${c.json.data.id}?reassign=default`)
  t.same(last.json.data, { deletedId: 'group-3', reassignedServers: [ids[0]] }, 'with no other group, default acts as unassign')
  t.same((await api.call('GET', '/api/config/groups')).json.data, [])
  const next = await api.call('POST', '/api/config/groups', { name: 'again' })
  t.equal(next.json.data.id, 'group-4', 'group ids are never reused')
})

t.test('configuration survives a restart', async t => {
  const first = await startApp(t)
  const server = (await first.call('POST', '/api/config/servers', validServer({ snmp: { enabled: true, community: 'x', disks: [{ index: 31 }] } }))).json.data
  await first.call('POST', '/api/config/groups', { name: 'G', serverIds: [server.id] })
  await first.call('DELETE', '/api/config/servers/' + (await first.call('POST', '/api/config/servers', validServer())).json.data.id)
  await first.app.close()

  const second = await startApp(t, {}, first.dir)
  t.same((await second.call('GET', '/api/config/servers')).json.data, [server])
  t.same((await second.call('GET', '/api/config/groups')).json.data.map((g: { name: string }) => g.name), ['G'])
  t.equal((await second.call('POST', '/api/config/servers', validServer())).json.data.id, 'server-003', 'the id counter is persisted')
})

t.test('the envelope covers unknown routes and non-JSON bodies', async t => {
  const api = await startApp(t)
  t.same((await api.call('GET', '/api/nothing-here')).json, { success: false, error: 'Route not found' })
  t.equal((await api.call('GET', '/api/nothing-here')).status, 404)
  const wrongType = await api.call('POST', '/api/config/servers', 'name=x', { 'content-type': 'text/plain' })
  t.equal(wrongType.status, 415)
  t.match(wrongType.json, { success: false, error: /Unsupported content type 'text\/plain'/ })
  const health = await api.call('GET', '/health')
  t.match(health.json, { status: 'ok', serverCount: 0, checks: { store: { ok: true } } })
})

t.test('an explicit id that looks generated moves the counter past it', async t => {
  const api = await startApp(t)
  t.equal((await api.call('POST', '/api/config/servers', validServer({ id: 'server-002' }))).status, 201)
  await api.call('DELETE', '/api/config/servers/server-002')
  const first = (await api.call('POST', '/api/config/servers', validServer())).json.data.id
  const second = (await api.call('POST', '/api/config/servers', validServer())).json.data.id
  t.same([first, second], ['server-003', 'server-004'], 'server-002 is never handed out again')
})

t.test('requests as browsers and fetch wrappers send them', async t => {
  const api = await startApp(t)
  const id = (await api.call('POST', '/api/config/servers', validServer())).json.data.id
  const deleted = await api.call('DELETE', `/api/config/servers/${id}`, '', { 'content-type': 'application/json' })
  t.equal(deleted.status, 200, 'a bodiless DELETE with a JSON content type is fine')
  const svm = await api.call('POST', '/api/config/servers', validServer({
    netapp: { enabled: true, username: 'u', password: 'p', luns: [{ name: 'l', path: 'svm1:/vol/a/l1' }] }
  }))
  t.equal(svm.status, 201, 'a LUN path qualified with its SVM is accepted')
})

t.test('the host API hands out read-only data and never keeps the caller\'s objects', async t => {
  const api = await startApp(t)
  const store = api.app.estatus.store
  const netapp: Record<string, unknown> = { enabled: true, username: 'u', password: 'p', luns: [{ name: 'l', path: '/vol/a/l' }] }
  const { value } = await store.createServer(validServer({ netapp }))
  t.notOk('apiType' in netapp, 'schema defaults are not written into the caller\'s object')
  netapp.username = 'changed later'
  t.equal(store.server(value.id)?.netapp?.username, 'u', 'changing the input afterwards changes nothing stored')
  t.throws(() => { (store.server(value.id) as { name: string }).name = 'sneaky' }, TypeError, 'stored items are frozen')
  t.throws(() => { (store.servers() as unknown[]).push({}) }, TypeError)
  t.throws(() => { (store.server(value.id)?.netapp?.luns as unknown[]).push({}) }, TypeError, 'deeply')
  t.equal((await api.call('GET', `/api/config/servers/${value.id}`)).json.data.name, 'web-1')
  // What a change makes is frozen as it is committed: an update's item, a new group, the lists holding them.
  await store.updateServer(value.id, validServer({ name: 'web-2', netapp }))
  t.throws(() => { (store.server(value.id) as { name: string }).name = 'sneaky' }, TypeError, 'an updated item is frozen')
  t.throws(() => { (store.server(value.id)?.netapp?.luns as unknown[]).push({}) }, TypeError, 'deeply')
  const group = (await store.createGroup({ name: 'G', serverIds: [value.id] })).value
  t.throws(() => { (store.group(group.id)?.serverIds as unknown[]).push('x') }, TypeError, 'a new group is frozen')
  t.throws(() => { (store.document().groups as unknown[]).push({}) }, TypeError, 'the list holding it too')
  t.ok(Object.isFrozen(store.document()), 'and the document')
})
