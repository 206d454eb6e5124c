// SPEC §11's audit through the real HTTP API, data file and history database: every change
// (API, host API, import, hand edit) is one `info` line and one entry of GET /api/audit —
// what, who, from where — never a secret; kept 400 days; admin-only when auth is on.
import t from 'tap'
import Database from 'better-sqlite3'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTokenStore } from '../lib/access-tokens.ts'
import { collectLog, startApp, tempDir, validServer, type Running } from './support/app.ts'
import { bearer } from './support/auth-support.ts'
import { checkBadLogQueries } from './support/log-query.ts'
import { waitFor } from './support/wait.ts'

const DAY = 86_400_000
// History off throughout: the audit keeps its table in the history database regardless.
const quiet = { pingIntervalMs: 3600000, diskIntervalMs: 3600000, history: false }
const SECRET = 'hook-secret-4711'
const PASSWORD = 'smtp-password-4711'
const webhook = { name: 'On call', type: 'webhook', url: 'https://hooks.example.net/estatus', secret: SECRET }

/** Tokens named as the tests expect them in the audit, made before the app starts. */
async function tokensIn (dir: string) {
  const store = await createTokenStore({ file: join(dir, 'tokens.json') })
  const made = {
    ops: (await store.create({ name: 'ops', role: 'write' })).token,
    boss: (await store.create({ name: 'boss', role: 'admin' })).token,
    reader: (await store.create({ name: 'reader', role: 'read' })).token
  }
  store.close()
  return made
}

async function auditOf (api: Running, query = '', headers: Record<string, string> = {}) {
  const answer = await api.call('GET', `/api/audit${query}`, undefined, headers)
  if (answer.status !== 200) throw new Error(`GET /api/audit${query} answered ${answer.status}: ${answer.text}`)
  return answer.json.data as Array<Record<string, unknown>>
}
/** The entries without their time, which each test checks on its own. */
const withoutTime = (entries: Array<Record<string, unknown>>) => entries.map(({ at: _at, ...entry }) => entry)
const auditLines = (lines: Array<Record<string, unknown>>) => lines.filter(line => line.plugin === 'audit')

t.test('a change by token ops: one info line and one entry — who ops, from 127.0.0.1; GET /api/audit needs an admin token', async t => {
  const dir = await tempDir(t)
  const tokens = await tokensIn(dir)
  const log = collectLog()
  const api = await startApp(t, { ...quiet, auth: 'writes' }, dir, { log: log.stream })
  const ops = bearer(tokens.ops)

  const created = await api.call('POST', '/api/config/servers', validServer(), ops)
  const id = created.json.data.id
  t.equal((await api.call('PUT', `/api/config/servers/${id}`, validServer({ name: 'web-renamed' }), ops)).status, 200)
  t.equal((await api.call('PUT', `/api/config/servers/${id}`, validServer({ ip: 'not an address' }), ops)).status, 400, 'a refused change')
  t.equal((await api.call('DELETE', `/api/config/servers/${id}`, undefined, ops)).status, 200)

  const entries = await auditOf(api, '', bearer(tokens.boss))
  t.same(withoutTime(entries), [
    { actor: 'ops', address: '127.0.0.1', action: 'delete', kind: 'server', id, name: 'web-renamed' },
    { actor: 'ops', address: '127.0.0.1', action: 'update', kind: 'server', id, name: 'web-renamed' },
    { actor: 'ops', address: '127.0.0.1', action: 'create', kind: 'server', id, name: 'web-1' }
  ], 'newest first; the refused change is not there; a delete names what it removed')
  for (const entry of entries) t.ok(Math.abs(Date.parse(entry.at as string) - Date.now()) < 60_000, `at is the time of the change: ${entry.at}`)

  const lines = auditLines(log.lines)
  t.equal(lines.length, 3, 'one line per change')
  t.match(lines[0], { level: 30, actor: 'ops', address: '127.0.0.1', action: 'create', kind: 'server', id, name: 'web-1', msg: `ops created server "web-1" (${id}) from 127.0.0.1` })
  t.match(lines[2], { level: 30, action: 'delete', msg: `ops deleted server "web-renamed" (${id}) from 127.0.0.1` })

  t.equal((await api.call('GET', '/api/audit')).status, 401, 'no token')
  t.equal((await api.call('GET', '/api/audit', undefined, bearer(tokens.reader))).status, 403, 'a read token')
  const write = await api.call('GET', '/api/audit', undefined, ops)
  t.equal(write.status, 403, 'a write token')
  t.equal(write.json.error, "This needs an admin token; token 'ops' has the role write")
})

t.test('auth off: anonymous; groups and the alert configuration are audited, a channel secret never', async t => {
  const log = collectLog()
  const api = await startApp(t, { ...quiet, auth: 'off' }, undefined, { log: log.stream })
  const server = (await api.call('POST', '/api/config/servers', validServer())).json.data.id
  const group = (await api.call('POST', '/api/config/groups', { name: 'Web', serverIds: [server] })).json.data.id
  const channel = (await api.call('POST', '/api/config/channels', webhook)).json.data.id
  t.equal((await api.call('PUT', `/api/config/channels/${channel}`, { ...webhook, secret: `${SECRET}-new` })).status, 200)
  const mail = (await api.call('POST', '/api/config/channels', { name: 'Mail', type: 'email', host: 'smtp.example.net', password: PASSWORD, from: 'a@example.net', to: ['b@example.net'] })).json.data.id
  const rule = (await api.call('POST', '/api/config/alert-rules', { name: 'Down', on: ['down'], channelIds: [channel] })).json.data.id
  const window = (await api.call('POST', '/api/config/maintenance', { name: 'Patch night', scope: { serverIds: [server], groupIds: [] }, start: '2025-01-07T22:00:00Z', end: '2025-01-08T00:00:00Z' })).json.data.id
  t.equal((await api.call('DELETE', `/api/config/alert-rules/${rule}`)).status, 200)
  t.equal((await api.call('DELETE', `/api/config/groups/${group}?reassign=unassign`)).status, 200)

  const answer = await api.call('GET', '/api/audit')
  t.equal(answer.status, 200, 'open while access control is off')
  const who = { actor: 'anonymous', address: '127.0.0.1' }
  t.same(withoutTime(answer.json.data).reverse(), [
    { ...who, action: 'create', kind: 'server', id: server, name: 'web-1' },
    { ...who, action: 'create', kind: 'group', id: group, name: 'Web' },
    { ...who, action: 'create', kind: 'channel', id: channel, name: 'On call' },
    { ...who, action: 'update', kind: 'channel', id: channel, name: 'On call' },
    { ...who, action: 'create', kind: 'channel', id: mail, name: 'Mail' },
    { ...who, action: 'create', kind: 'rule', id: rule, name: 'Down' },
    { ...who, action: 'create', kind: 'maintenance', id: window, name: 'Patch night' },
    { ...who, action: 'delete', kind: 'rule', id: rule, name: 'Down' },
    { ...who, action: 'delete', kind: 'group', id: group, name: 'Web' }
  ])
  const logged = JSON.stringify(auditLines(log.lines))
  t.equal(auditLines(log.lines).length, 9)
  for (const secret of [SECRET, PASSWORD]) {
    t.notOk(answer.text.includes(secret), `${secret} is not in the audit`)
    t.notOk(logged.includes(secret), `${secret} is not in its log lines`)
  }
  t.notOk(JSON.stringify(log.lines).includes(SECRET), 'nor anywhere in the log')
  const database = new Database(join(api.dir, 'history.sqlite'), { readonly: true })
  const rows = JSON.stringify(database.prepare('SELECT * FROM audit_log').all())
  database.close()
  t.ok(rows.includes('Patch night'), 'the entries are in the history database')
  t.notOk(rows.includes(SECRET) || rows.includes(PASSWORD), 'whose rows hold no secret')
})

t.test('the host API: `host` by default, or the origin the host passes; a replace is a summary and its items', async t => {
  const log = collectLog()
  const api = await startApp(t, quiet, undefined, { log: log.stream })
  const store = api.app.estatus.store
  const first = (await store.createServer(validServer())).value
  const second = (await store.createServer(validServer({ name: 'db-1' }), { origin: { actor: 'nightly-sync', address: '10.9.8.7' } })).value
  const document = store.document()
  await store.replace({ ...document, servers: [{ ...first, name: 'web-2' }] })

  t.same(withoutTime(await auditOf(api)), [
    { actor: 'host', address: null, action: 'replace', kind: 'configuration', id: null, name: null, counts: { created: 0, updated: 1, deleted: 1 } },
    { actor: 'host', address: null, action: 'delete', kind: 'server', id: second.id, name: 'db-1', via: 'replace' },
    { actor: 'host', address: null, action: 'update', kind: 'server', id: first.id, name: 'web-2', via: 'replace' },
    { actor: 'nightly-sync', address: '10.9.8.7', action: 'create', kind: 'server', id: second.id, name: 'db-1' },
    { actor: 'host', address: null, action: 'create', kind: 'server', id: first.id, name: 'web-1' }
  ])
  t.same(auditLines(log.lines).map(line => line.msg), [
    `host created server "web-1" (${first.id})`,
    `nightly-sync created server "db-1" (${second.id}) from 10.9.8.7`,
    `host updated server "web-2" (${first.id}) by replace`,
    `host deleted server "db-1" (${second.id}) by replace`,
    'host replaced the configuration: 0 created, 1 updated, 1 deleted'
  ])
})

t.test('an import: one entry per changed item and a summary with the counts, by the admin token that sent it', async t => {
  const dir = await tempDir(t)
  const tokens = await tokensIn(dir)
  const log = collectLog()
  const api = await startApp(t, { ...quiet, auth: 'writes' }, dir, { log: log.stream })
  const store = api.app.estatus.store
  const kept = (await store.createServer(validServer({ name: 'kept' }))).value
  const changed = (await store.createServer(validServer({ name: 'changed' }))).value
  const gone = (await store.createServer(validServer({ name: 'gone' }))).value
  const channel = (await store.collection('channels').create(webhook)).value
  const exported = (await api.call('GET', '/api/config/export?secrets=include', undefined, bearer(tokens.boss))).json.data
  const backup = {
    ...exported,
    servers: [exported.servers[0], { ...exported.servers[1], ip: '10.1.2.4' }, validServer({ id: 'server-new', name: 'new' })],
    channels: [{ ...exported.channels[0], secret: `${SECRET}-restored` }]
  }
  const before = (await auditOf(api, '', bearer(tokens.boss))).length
  const imported = await api.call('POST', '/api/config/import', backup, bearer(tokens.boss))
  t.equal(imported.status, 200)

  const boss = { actor: 'boss', address: '127.0.0.1' }
  const entries = withoutTime(await auditOf(api, '', bearer(tokens.boss)))
  t.same(entries.slice(0, entries.length - before), [
    { ...boss, action: 'import', kind: 'configuration', id: null, name: null, counts: { created: 1, updated: 2, deleted: 1 } },
    { ...boss, action: 'update', kind: 'channel', id: channel.id, name: 'On call', via: 'import' },
    { ...boss, action: 'delete', kind: 'server', id: gone.id, name: 'gone', via: 'import' },
    { ...boss, action: 'create', kind: 'server', id: 'server-new', name: 'new', via: 'import' },
    { ...boss, action: 'update', kind: 'server', id: changed.id, name: 'changed', via: 'import' }
  ], `the summary above its items; the unchanged ${kept.id} is not there`)
  const lines = auditLines(log.lines).slice(before)
  t.equal(lines.length, 5)
  t.match(lines.at(-1), { level: 30, actor: 'boss', action: 'import', counts: { created: 1, updated: 2, deleted: 1 }, msg: 'boss imported the configuration: 1 created, 2 updated, 1 deleted from 127.0.0.1' })
  t.notOk(JSON.stringify(log.lines).includes(SECRET), 'the channel secret is in no log line')
})

t.test('a hand edit of the data file: who is `file`, no address', async t => {
  const api = await startApp(t, { ...quiet, watchDataFile: true })
  const server = (await api.call('POST', '/api/config/servers', validServer())).json.data.id
  const document = JSON.parse(await api.fileText())
  document.servers[0].name = 'edited-by-hand'
  await writeFile(api.dataFile, JSON.stringify(document, null, 2))
  const entries = await waitFor(async () => {
    const found = await auditOf(api)
    return found.some(entry => entry.actor === 'file') ? found : null
  }, 10000, 'the hand edit in the audit')
  t.same(withoutTime(entries), [
    { actor: 'file', address: null, action: 'replace', kind: 'configuration', id: null, name: null, counts: { created: 0, updated: 1, deleted: 0 } },
    { actor: 'file', address: null, action: 'update', kind: 'server', id: server, name: 'edited-by-hand', via: 'replace' },
    { actor: 'anonymous', address: '127.0.0.1', action: 'create', kind: 'server', id: server, name: 'web-1' }
  ])
})

t.test('the entry is committed before the change resolves: a kill right after the answer cannot lose it', async t => {
  const api = await startApp(t, quiet)
  await api.app.estatus.store.createServer(validServer({ name: 'just-made' }))
  // At once, on another connection, as after a SIGKILL: no turn of the event loop in between.
  const db = new Database(join(api.dir, 'history.sqlite'), { readonly: true })
  const rows = db.prepare('SELECT actor, action, name FROM audit_log').all()
  db.close()
  t.same(rows, [{ actor: 'host', action: 'create', name: 'just-made' }])
})

t.test('from, to and limit; bad input is a 400 naming the field', async t => {
  let now = Date.parse('2026-03-01T12:00:00Z')
  const api = await startApp(t, { ...quiet, auditClock: () => now })
  const at = (daysAgo: number) => new Date(Date.parse('2026-03-01T12:00:00Z') - daysAgo * DAY).toISOString()
  for (const daysAgo of [30, 10, 1]) {
    now = Date.parse(at(daysAgo))
    await api.call('POST', '/api/config/servers', validServer({ name: `made-${daysAgo}d-ago` }))
  }
  now = Date.parse('2026-03-01T12:00:00Z')
  const names = async (query: string) => (await auditOf(api, query)).map(entry => entry.name)
  t.same(await names(''), ['made-1d-ago', 'made-10d-ago', 'made-30d-ago'], 'by default everything kept, newest first')
  t.same((await auditOf(api)).map(entry => entry.at), [at(1), at(10), at(30)], 'each at the time of its change')
  t.same(await names('?limit=2'), ['made-1d-ago', 'made-10d-ago'])
  t.same(await names(`?from=${at(11)}`), ['made-1d-ago', 'made-10d-ago'])
  t.same(await names(`?to=${at(10)}`), ['made-10d-ago', 'made-30d-ago'], 'to is inclusive')
  t.same(await names(`?from=${at(31)}&to=${at(2)}&limit=1`), ['made-10d-ago'])
  t.same(await names('?from=2026-02-20&to=2026-02-21'), [], 'nothing in the range')

  await checkBadLogQueries(t, path => api.call('GET', path), '/api/audit')
})

t.test('entries older than 400 days are pruned', async t => {
  const dir = await tempDir(t)
  const today = Date.parse('2026-03-01T12:00:00Z')
  let now = today - 401 * DAY
  const first = await startApp(t, { ...quiet, auditClock: () => now }, dir)
  await first.call('POST', '/api/config/servers', validServer({ name: 'made-401d-ago' }))
  now = today - 399 * DAY
  await first.call('POST', '/api/config/servers', validServer({ name: 'made-399d-ago' }))
  t.same((await auditOf(first)).map(entry => entry.name), ['made-399d-ago', 'made-401d-ago'], 'both kept while neither is 400 days old')
  await first.app.close()

  // Pruned when it starts and hourly after.
  now = today
  const second = await startApp(t, { ...quiet, auditClock: () => now }, dir)
  t.same((await auditOf(second, '?from=2000-01-01')).map(entry => entry.name), ['made-399d-ago'])
})
