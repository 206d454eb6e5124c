// Issue 8, the input side: hostile bodies cost bounded work, get small enveloped 4xx
// answers that name the problem, and never change stored data.
import t, { type Test } from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startApp, tempDir, validServer, type Answer, type Running } from './support/app.ts'
import { hostileBodies, HOSTILE_KINDS } from './support/hostile.ts'
import { ValidationError } from '../lib/errors.ts'

const SERVERS = '/api/config/servers'
const GROUPS = '/api/config/groups'
const MAX_ANSWER_BYTES = 64 * 1024
const json = { 'content-type': 'application/json' }

/** A refusal as SPEC §2 wants it, at most 64 KiB. */
function assertRefused (t: Test, answer: Answer, status: number, what: string) {
  t.equal(answer.status, status, `${what}: ${status} (${answer.text.slice(0, 200)})`)
  t.ok(Buffer.byteLength(answer.text) <= MAX_ANSWER_BYTES, `${what}: answer of ${Buffer.byteLength(answer.text)} bytes ≤ 64 KiB`)
  t.equal(answer.json?.success, false, `${what}: enveloped`)
  t.type(answer.json?.error, 'string', `${what}: error is a string`)
}

async function unchanged (t: Test, api: Running, before: string) {
  t.same(await api.fileText(), before, 'the data file is byte-for-byte unchanged')
  const health = await api.call('GET', '/health')
  t.equal(health.status, 200, 'the server still answers')
}

async function seeded (t: Test) {
  const api = await startApp(t)
  const server = await api.call('POST', SERVERS, validServer({ name: 'seed' }))
  const group = await api.call('POST', GROUPS, { name: 'Seed', serverIds: [server.json.data.id] })
  if (server.status !== 201 || group.status !== 201) throw new Error('seeding failed')
  return { api, serverId: server.json.data.id as string, groupId: group.json.data.id as string, before: await api.fileText() }
}

t.test('defect 2: 200,000 invalid disks get a small 400 naming the array, four at once too', async t => {
  const { api, before } = await seeded(t)
  const disks = (field: string) => JSON.stringify(validServer({ snmp: { enabled: true, [field]: Array(200000).fill(field === 'disks' ? {} : 'x') } }))
  const bodies = [disks('disks'), disks('storageIndexes'), disks('disks'), disks('storageIndexes')]
  t.ok(bodies.every(body => body.length < 1048576), 'each body is under the 1 MiB limit')
  const [answers, health] = await Promise.all([
    Promise.all(bodies.map(body => api.call('POST', SERVERS, body, json))),
    api.call('GET', '/health')
  ])
  answers.forEach((answer, i) => {
    assertRefused(t, answer, 400, `body ${i}`)
    const field = i % 2 === 0 ? 'snmp.disks' : 'snmp.storageIndexes'
    t.same(Object.keys(answer.json.validationErrors), [field], `body ${i}: only ${field} is named`)
  })
  t.equal(health.status, 200, '/health answered meanwhile')
  await unchanged(t, api, before)
})

t.test('defect 2: 105,000 unknown fields get a small 400', async t => {
  const { api, before } = await seeded(t)
  const body = '{' + Array.from({ length: 105000 }, (_, i) => `"${i.toString(36)}":0`).join(',') + '}'
  t.ok(body.length < 1048576, `${body.length} bytes`)
  for (const path of [SERVERS, GROUPS]) {
    const answer = await api.call('POST', path, body, json)
    assertRefused(t, answer, 400, path)
    t.same(answer.json.validationErrors, { body: 'has more than 64 fields' }, `${path}: names the body`)
  }
  await unchanged(t, api, before)
})

t.test('defect 2: per-item work never starts on an array over its limit', async t => {
  const { api, before } = await seeded(t)
  // 5,000 disks pass the parser's generic limit; the schema's 16 stops them before any disk is looked at.
  const answer = await api.call('POST', SERVERS, validServer({ snmp: { enabled: true, disks: Array(5000).fill({ size: 1 }) }, name: 5 }))
  assertRefused(t, answer, 400, '5,000 disks')
  t.same(answer.json.validationErrors, { 'snmp.disks': 'must have at most 16 items' }, 'the size alone is reported')
  // The host API validates the same way (no parser in front of it).
  const hostCall = api.app.estatus.store.createServer(validServer({ snmp: { enabled: true, disks: Array(200000).fill({}) } }))
  const error = await hostCall.then(() => undefined, (err: unknown) => err)
  t.ok(error instanceof ValidationError, 'the host API refuses it')
  t.same((error as ValidationError).fields, { 'snmp.disks': 'must have at most 16 items' }, 'naming the array alone')
  await unchanged(t, api, before)
})

t.test('defect 2: at most 20 fields are listed, and the answer says how many more', async t => {
  const { api, before } = await seeded(t)
  const answer = await api.call('POST', SERVERS, validServer(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`extra${i}`, i]))))
  assertRefused(t, answer, 400, '30 unknown fields')
  t.equal(Object.keys(answer.json.validationErrors).length, 20, '20 fields listed')
  t.same(answer.json.data, answer.json.validationErrors, 'data repeats them')
  t.match(answer.json.error, /^Validation failed: extra0: is not a known field; .*; and 10 more$/, 'the error counts the rest')
  await unchanged(t, api, before)
})

t.test('defect 2: answers stay under 64 KiB for the longest names and messages a body can cause', async t => {
  const { api, before } = await seeded(t)
  const longKey = (i: number) => `${i}${'€\u0001\ud800'.repeat(500)}`
  const cases: Array<[string, string, unknown]> = [
    ['60 unknown fields with 1,500-character names', SERVERS, Object.fromEntries(Array.from({ length: 60 }, (_, i) => [longKey(i), 0]))],
    ['10,000 unknown server ids of 64 characters', GROUPS, { name: 'n', serverIds: Array.from({ length: 10000 }, (_, i) => `${i}`.padEnd(64, 'x')) }],
    ['10,000 server ids of 65 characters', GROUPS, { name: 'n', serverIds: Array.from({ length: 10000 }, (_, i) => `${i}`.padEnd(65, 'x')) }],
    ['a 1,500-character unknown field in every disk', SERVERS, validServer({ snmp: { enabled: true, disks: Array.from({ length: 16 }, (_, i) => ({ index: i, [longKey(i)]: 1 })) } })]
  ]
  for (const [what, path, body] of cases) {
    const text = JSON.stringify(body)
    t.ok(text.length < 1048576, `${what}: ${text.length} characters`)
    assertRefused(t, await api.call('POST', path, text, json), 400, what)
  }
  await unchanged(t, api, before)
})

t.test('defect 3, the parser side: 10,000 levels of nesting get a 400 naming the problem on every route', async t => {
  const { api, serverId, groupId, before } = await seeded(t)
  const deep = (inner: string) => `{"name":"x","ip":"10.0.0.1","dnsAddress":"127.0.0.2","x":${inner}}`
  for (const body of [deep('['.repeat(10000) + ']'.repeat(10000)), deep('{"a":'.repeat(10000) + '1' + '}'.repeat(10000))]) {
    for (const [method, path] of [['POST', SERVERS], ['PUT', `${SERVERS}/${serverId}`], ['POST', GROUPS], ['PUT', `${GROUPS}/${groupId}`], ['DELETE', `${GROUPS}/${groupId}`]]) {
      const answer = await api.call(method!, path!, body, json)
      assertRefused(t, answer, 400, `${method} ${path}`)
      t.match(answer.json.error, /^JSON body is nested too deeply: more than 32 levels of objects and arrays at line 1, column \d+$/, `${method} ${path}: says so`)
    }
  }
  await unchanged(t, api, before)
})

t.test('defect 7: dnsAddress takes hostnames and canonical IP literals', async t => {
  const api = await startApp(t)
  const accepted = ['web-1.lan', 'WEB-1.Example.COM.', 'localhost', '127.0.0.2', '::1', 'fe80::1', '2001:db8::10', '::ffff:127.0.0.2', `${'a'.repeat(63)}.lan`, 'xn--bcher-kva.example', '1a.example', '123.example', '0x7f.lan']
  for (const dnsAddress of accepted) {
    const answer = await api.call('POST', SERVERS, validServer({ dnsAddress }))
    t.equal(answer.status, 201, `${dnsAddress} accepted (${answer.text.slice(0, 200)})`)
  }
  // The refused forms are rows of test/bad-input.test.ts.
})

t.test('a leading byte-order mark is still tolerated (RFC 8259 allows it; Fastify\'s parser did)', async t => {
  const api = await startApp(t)
  const answer = await api.call('POST', SERVERS, `\ufeff${JSON.stringify(validServer())}`, json)
  t.equal(answer.status, 201, answer.text)
})

t.test('defect 7: a data file from before the dnsAddress rule still loads', async t => {
  const dir = await tempDir(t)
  const dataFile = join(dir, 'estatus.json')
  const legacy = { id: 'server-001', name: 'old', ip: '10.0.0.1', dnsAddress: '0177.0.0.1' }
  await writeFile(dataFile, JSON.stringify({ version: 1, nextServerId: 2, nextGroupId: 1, servers: [legacy], groups: [] }))
  const api = await startApp(t, { dataFile })
  const answer = await api.call('GET', `${SERVERS}/server-001`)
  t.equal(answer.json.data.dnsAddress, '0177.0.0.1', 'kept as stored')
  const edit = await api.call('PUT', `${SERVERS}/server-001`, answer.json.data)
  t.equal(edit.status, 400, 'and must be fixed at the next edit')
  t.ok(Object.hasOwn(edit.json.validationErrors, 'dnsAddress'), 'naming dnsAddress')
})

t.test('fuzz: seeded hostile bodies against every mutating route', async t => {
  const seed = Number(process.env.HOSTILE_SEED ?? 8)
  const count = Number(process.env.HOSTILE_COUNT ?? 240)
  const deadline = Date.now() + 50_000
  t.comment(`seed ${seed} (HOSTILE_SEED replays a run), up to ${count} bodies or 50 s`)
  const { api, serverId, groupId, before } = await seeded(t)
  // DELETE with a stale If-Match: a body that gets past the parser meets a 409, never a delete.
  const stale = { ...json, 'if-match': '"stale"' }
  const routes: Array<[string, string, Record<string, string>]> = [
    ['POST', SERVERS, json], ['PUT', `${SERVERS}/${serverId}`, json], ['PUT', `${SERVERS}/server-999`, json],
    ['DELETE', `${SERVERS}/${serverId}`, stale], ['POST', GROUPS, json], ['PUT', `${GROUPS}/${groupId}`, json],
    ['DELETE', `${GROUPS}/${groupId}?reassign=default`, stale]
  ]
  const statuses = new Map<string, number>()
  let sent = 0
  let largest = 0
  for (const body of hostileBodies(seed)) {
    if (sent === count || Date.now() > deadline) break
    const [method, path, headers] = routes[sent % routes.length]!
    const answer = await api.call(method, path, body.text, headers)
    const what = `#${sent} ${body.kind} ${method} ${path}`
    sent++
    statuses.set(`${answer.status}`, (statuses.get(`${answer.status}`) ?? 0) + 1)
    largest = Math.max(largest, Buffer.byteLength(answer.text))
    // Only failures are reported one by one: passing checks would be thousands of lines.
    if (answer.status < 400 || answer.status >= 500) t.fail(`${what}: status ${answer.status} ${answer.text.slice(0, 300)}`)
    if (Buffer.byteLength(answer.text) > MAX_ANSWER_BYTES) t.fail(`${what}: answer of ${Buffer.byteLength(answer.text)} bytes`)
    if (answer.json?.success !== false || typeof answer.json.error !== 'string') t.fail(`${what}: not enveloped: ${answer.text.slice(0, 300)}`)
    if (/^Malformed JSON body/.test(answer.json?.error ?? '') && !/ at line \d+, column \d+$/.test(answer.json.error)) t.fail(`${what}: says not where: ${answer.json.error}`)
  }
  t.ok(sent >= Math.min(count, HOSTILE_KINDS.length * routes.length), `${sent} bodies sent, every kind on every route`)
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}, largest answer ${largest} bytes`)
  t.notOk(statuses.has('500'), 'no 5xx')
  await unchanged(t, api, before)
})
