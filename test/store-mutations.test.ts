// Unit tests of the store's pure parts (lib/store/): mutations, id counters, ETags, the
// data file's text and the nesting bound. No app, no file: documents in, documents out.
import t from 'tap'
import type { StoreDocument, ServerConfig, GroupConfig } from '../schemas/config.ts'
import * as mutations from '../lib/store/mutations.ts'
import { MAX_COUNTER, generateId, nextSerial, serialOf } from '../lib/store/ids.ts'
import { etagOf, ifMatchAllows } from '../lib/store/etag.ts'
import { documentText } from '../lib/store/document-text.ts'
import { checkNesting, createValidators, groupNameKey } from '../lib/document.ts'
import { ValidationError } from '../lib/errors.ts'

const server = (id: string, overrides: Partial<ServerConfig> = {}): ServerConfig => ({ id, name: id, ip: '10.0.0.1', dnsAddress: '127.0.0.1', ...overrides })
const group = (id: string, name: string, serverIds: string[] = [], order = 1): GroupConfig => ({ id, name, order, serverIds, rowNumber: 1, rowOrder: 1 })

/** A frozen document, as the store hands them to mutations: a mutation that writes into it throws. */
function documentOf (servers: ServerConfig[], groups: GroupConfig[] = [], counters = { nextServerId: servers.length + 1, nextGroupId: groups.length + 1 }): StoreDocument {
  const document: StoreDocument = {
    version: 2,
    nextServerId: counters.nextServerId,
    nextGroupId: counters.nextGroupId,
    nextChannelId: 1,
    nextRuleId: 1,
    nextMaintenanceId: 1,
    servers,
    groups,
    channels: [],
    alertRules: [],
    maintenance: []
  }
  for (const item of [...servers, ...groups]) Object.freeze(item)
  Object.freeze(servers)
  Object.freeze(groups)
  return Object.freeze(document)
}

const input = { name: 'web', ip: '10.0.0.9', dnsAddress: 'web.lan' }
const status = (fn: () => unknown) => { try { fn(); return 0 } catch (err) { return (err as { statusCode?: number }).statusCode ?? -1 } }

t.test('createServer: generated id, counter, changes; the input document is untouched', async t => {
  const before = documentOf([server('server-001')])
  const { document, value, changes } = mutations.createServer(before, input)
  t.equal(value.id, 'server-002')
  t.equal(document.nextServerId, 3)
  t.same(document.servers.map(s => s.id), ['server-001', 'server-002'])
  t.same(changes, { serversAdded: [value], serversUpdated: [], serversRemoved: [], groups: null })
  t.equal(before.servers.length, 1)
  t.equal(status(() => mutations.createServer(before, { ...input, id: 'server-001' })), 409, 'a taken id is a conflict')
})

t.test('createServer: client ids move the counter only while it stays an exact, safe integer', async t => {
  const moved = mutations.createServer(documentOf([]), { ...input, id: 'server-041' }).document
  t.equal(moved.nextServerId, 42, 'a generated-looking id moves the counter past it')
  for (const id of ['server-9007199254740993', 'server-' + '9'.repeat(57), 'server-1000000000000001']) {
    const { document } = mutations.createServer(documentOf([]), { ...input, id })
    t.equal(document.nextServerId, 1, `${id} does not move the counter`)
    const next = mutations.createServer(document, input)
    t.equal(next.value.id, 'server-001')
    t.equal(mutations.createServer(next.document, input).value.id, 'server-002', 'and ids keep coming')
  }
  const top = mutations.createServer(documentOf([]), { ...input, id: 'server-1000000000000000' }).document
  t.equal(top.nextServerId, MAX_COUNTER, 'the largest counted serial')
  t.equal(mutations.createServer(top, input).value.id, 'server-1000000000000001')
})

t.test('ids: serials, counters and generation', async t => {
  t.equal(serialOf('server-007', 'server'), 7)
  t.equal(serialOf('server-' + '0'.repeat(40) + '12', 'server'), 12, 'leading zeros do not make a number large')
  t.equal(serialOf('server-9007199254740993', 'server'), undefined)
  t.equal(serialOf('group-3', 'server'), undefined)
  t.equal(nextSerial(5, ['group-9', 'group-9007199254740993', 'group-x'], 'group'), 10)
  t.equal(nextSerial(1e57, [], 'server'), MAX_COUNTER, 'a counter beyond the bound is lowered to it')
  t.equal(nextSerial(9007199254740992, ['server-001'], 'server'), MAX_COUNTER)
  t.same(generateId('group', 2, id => id === 'group-2' || id === 'group-3'), { id: 'group-4', next: 5 }, 'taken ids are skipped')
})

t.test('stored documents: counters and large ids from a hand edit are brought into range', async t => {
  const { checkDocument } = createValidators()
  const document = checkDocument({
    version: 1,
    nextServerId: 1e57,
    nextGroupId: 2 ** 53, // what JSON's 9007199254740993 reads as
    servers: [server('server-9007199254740993'), server('server-' + '9'.repeat(57), { name: 'nines' })],
    groups: [group('group-9007199254740993', 'G')]
  })
  t.equal(document.nextServerId, MAX_COUNTER)
  t.equal(document.nextGroupId, MAX_COUNTER)
  const first = mutations.createGroup(documentOf(document.servers, document.groups, document), { name: 'A', serverIds: [] })
  const second = mutations.createGroup(first.document, { name: 'B', serverIds: [] })
  t.not(first.value.id, second.value.id, 'two new groups get two ids')
  t.ok(Number.isSafeInteger(second.document.nextGroupId))
})

t.test('updateServer and deleteServer: If-Match is compared strongly; secrets and groups follow', async t => {
  const stored = server('server-001', { snmp: { enabled: true, community: 'secret', disks: [] } })
  const before = documentOf([stored, server('server-002')], [group('group-1', 'G', ['server-001', 'server-002'])])
  const tag = etagOf(stored)
  const updated = mutations.updateServer(before, { id: 'server-001', body: { ...input, snmp: { enabled: true, community: '********', disks: [] } }, ifMatch: tag })
  t.equal(updated.value.snmp?.community, 'secret', 'a masked secret keeps the stored one')
  t.same(updated.changes.serversUpdated, [{ before: stored, after: updated.value }])
  t.equal(status(() => mutations.updateServer(before, { id: 'server-001', body: input, ifMatch: `W/${tag}` })), 409, 'a weak tag never matches')
  t.equal(status(() => mutations.updateServer(before, { id: 'server-001', body: input, ifMatch: '"other"' })), 409)
  t.equal(status(() => mutations.updateServer(before, { id: 'server-001', body: { ...input, id: 'server-002' } })), 400, 'a body id must match')
  t.equal(status(() => mutations.deleteServer(before, { id: 'server-009' })), 404)

  const removed = mutations.deleteServer(before, { id: 'server-001', ifMatch: `"x", ${tag}` })
  t.same(removed.document.servers.map(s => s.id), ['server-002'])
  t.same(removed.document.groups[0]!.serverIds, ['server-002'], 'the id leaves every group in the same change')
  t.same(removed.changes.groups?.map(g => g.serverIds), [['server-002']])
  t.same(removed.changes.serversRemoved, [stored])
  t.equal(mutations.deleteServer(before, { id: 'server-002', ifMatch: '*' }).value.deletedId, 'server-002')
})

t.test('ifMatchAllows: strong comparison (RFC 9110)', async t => {
  const item = group('group-1', 'G')
  const tag = etagOf(item)
  t.ok(ifMatchAllows(undefined, item))
  t.ok(ifMatchAllows(tag, item))
  t.ok(ifMatchAllows(`"a" , ${tag}`, item))
  t.ok(ifMatchAllows('*', item))
  t.notOk(ifMatchAllows(`W/${tag}`, item))
  t.notOk(ifMatchAllows(tag.slice(1, -1), item), 'an unquoted tag is not the tag')
})

t.test('groups: names compare NFKC-normalised and case-folded; reassign', async t => {
  t.equal(groupNameKey('Ｗｅｂ'), groupNameKey('Web'))
  t.equal(groupNameKey('Straße'), groupNameKey('STRASSE'))
  t.not(groupNameKey('Web'), groupNameKey('Web2'))
  const before = documentOf([server('server-001'), server('server-002')], [group('group-1', 'Web', ['server-001'], 1), group('group-2', 'Straße', [], 2)])
  t.equal(status(() => mutations.createGroup(before, { name: 'Ｗｅｂ', serverIds: [] })), 409)
  t.equal(status(() => mutations.createGroup(before, { name: 'STRASSE', serverIds: [] })), 409)
  t.equal(status(() => mutations.updateGroup(before, { id: 'group-2', body: { name: 'WEB', serverIds: [] } })), 409)
  t.equal(mutations.updateGroup(before, { id: 'group-2', body: { name: 'STRASSE', serverIds: [] } }).value.name, 'STRASSE', 'a group may respell its own name')
  t.equal(status(() => mutations.createGroup(before, { name: 'New', serverIds: ['server-404'] })), 400, 'unknown server ids')

  const created = mutations.createGroup(before, { name: 'Mail', serverIds: ['server-002'] })
  t.match(created.value, { id: 'group-3', order: 3, rowNumber: 1, rowOrder: 1 })
  t.equal(created.document.nextGroupId, 4)
  const gone = mutations.deleteGroup(created.document, { id: 'group-3', reassign: 'default' })
  t.same(gone.value, { deletedId: 'group-3', reassignedServers: ['server-002'] })
  t.same(gone.document.groups.find(g => g.id === 'group-1')?.serverIds, ['server-001', 'server-002'], 'moved to the first group')
})

t.test('replaceDocument: the changes item by item', async t => {
  const kept = server('server-001')
  const before = documentOf([kept, server('server-002'), server('server-003')], [group('group-1', 'G')])
  const next: StoreDocument = { ...before, servers: [kept, server('server-002', { name: 'renamed' }), server('server-004')], groups: [group('group-1', 'G2')] }
  const { changes } = mutations.replaceDocument(before, next)
  t.same(changes.serversAdded.map(s => s.id), ['server-004'])
  t.same(changes.serversUpdated.map(u => u.after.name), ['renamed'])
  t.same(changes.serversRemoved.map(s => s.id), ['server-003'])
  t.same(changes.groups?.map(g => g.name), ['G2'])
  t.equal(mutations.replaceDocument(before, { ...before }).changes.groups, null)
})

t.test('documentText is JSON.stringify(document, null, 2) from cached parts', async t => {
  const document = documentOf(
    [server('server-001', { name: 'line\nbreak "quoted"', snmp: { enabled: true, disks: [{ index: 1, name: 'x' }] } }), server('server-002')],
    [group('group-1', 'G', ['server-001'])])
  t.equal(documentText(document), JSON.stringify(document, null, 2) + '\n')
  t.equal(documentText(document), JSON.stringify(document, null, 2) + '\n', 'the second time from the cache')
  const empty = documentOf([])
  t.equal(documentText(empty), JSON.stringify(empty, null, 2) + '\n')
})

t.test('checkNesting: deep input is refused by name before anything recursive sees it', async t => {
  let deep: unknown = 1
  for (let i = 0; i < 10000; i++) deep = { a: deep }
  const err = t.throws(() => checkNesting({ name: 'x', snmp: deep })) as unknown as ValidationError
  t.ok(err instanceof ValidationError)
  t.match(err.fields, { snmp: /nested too deeply/ })
  t.doesNotThrow(() => checkNesting({ snmp: { disks: [{ index: 1 }] } }))
  const { parseServer, checkDocument } = createValidators()
  t.throws(() => parseServer({ name: [[[deep]]] }), ValidationError)
  t.throws(() => checkDocument({ version: 1, nextServerId: 1, nextGroupId: 1, servers: [deep], groups: [] }), ValidationError)
})
