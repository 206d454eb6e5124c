// GET /api/events (SPEC §5) end to end, with real clients over HTTP on 127.0.0.1:
// `RawClient` (node:http, keeps every byte of the body and parses the frames itself) and
// `EsClient` (the `eventsource` package, which behaves like a browser's EventSource).
//
// Monitor events: every server here is really probed (fping, 127.0.0.x). `QUIET` sets one
// echo per hour and a threshold of 10, but the pinger restarts fping (which then pings at
// once) whenever the target list changes, so a test that changes targets ten times could
// still flip a server online; and servers with SNMP/NetApp enabled (the secrets test) get
// their disks read, which fails (nothing listens there) and publishes a diskUpdate.
// Hence: where a scripted sequence is compared with what was expected, the monitor's
// types (statusChange, diskUpdate) are filtered out (`configEvents`);
// comparisons between clients, and with the bus, always use every state-changing event,
// unfiltered. Tests that need exact ids without filtering change only groups (no targets).
import t from 'tap'
import http, { type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { StringDecoder } from 'node:string_decoder'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { EventSource } from 'eventsource'
import { Ajv } from 'ajv'
import estatus, { type EstatusEvents, type EstatusOptions } from '../app.ts'
import { StreamMessage, HeartbeatMessage, type EstatusEvent } from '../schemas/events.ts'
import type { EventBus } from '../plugins/event-bus.ts'
import { call, settledFileText, tempDir, validServer, type Answer, type Test } from './support/app.ts'
import { frameReader } from './support/sse.ts'
import { sleep, waitFor } from './support/wait.ts'

/** No heartbeats, and (almost, see the top) no server can flip online during a test. */
const QUIET: EstatusOptions = { pingIntervalMs: 3600000, pingTimeoutMs: 1000, threshold: 10, heartbeatMs: 3600000 }

const STATE_TYPES = new Set(['statusChange', 'diskUpdate', 'serverAdded', 'serverUpdated', 'serverRemoved', 'groupsChanged'])
const MONITOR_TYPES = new Set(['statusChange', 'diskUpdate'])

// ---- the app ------------------------------------------------------------------------------

interface EventsApp {
  app: FastifyInstance
  url: string
  port: number
  dataFile: string
  /** The host's `estatus.events` (it counts the open streams). */
  hub: EstatusEvents
  /** The plugin's event bus: it lives in its encapsulated scope, not on `app`. */
  bus: EventBus
  call (method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>
  connections (): Promise<number>
  close (): Promise<void>
}

/**
 * Like `startApp` of helpers.ts (forceCloseConnections as in server.ts), but it also finds
 * the plugin's inner scope (through an onRegister hook, so the plugin exposes nothing
 * for the tests) and lets a test shape the host app before the plugin is registered.
 */
async function startEvents (t: Test, options: EstatusOptions = {}, host: { fastify?: FastifyServerOptions, before?: (app: FastifyInstance) => void } = {}): Promise<EventsApp> {
  const dir = await tempDir(t, 'estatus-events-')
  const dataFile = join(dir, 'estatus.json')
  const app = Fastify({ logger: { level: process.env.TEST_LOG_LEVEL ?? 'silent' }, forceCloseConnections: true, ...host.fastify })
  const scopes: FastifyInstance[] = []
  app.addHook('onRegister', instance => { scopes.push(instance) })
  host.before?.(app)
  await app.register(estatus, { ...options, dataFile })
  await app.listen({ port: 0, host: '127.0.0.1' })
  let closed: Promise<void> | null = null
  const close = () => (closed ??= app.close())
  t.teardown(close)
  const scope = scopes.find(instance => instance.hasDecorator('eventBus'))
  if (scope === undefined) throw new Error('the estatus scope with the event bus was not found')
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const url = `http://127.0.0.1:${port}`
  return {
    app,
    url,
    port,
    dataFile,
    hub: app.estatus.events,
    bus: scope.getDecorator<EventBus>('eventBus'),
    call: (method, path, body, headers) => call(url, method, path, body, headers),
    connections: () => new Promise((resolve, reject) => app.server.getConnections((err, count) => (err ? reject(err) : resolve(count)))),
    close
  }
}

// ---- clients ------------------------------------------------------------------------------

interface Message {
  /** Raw client: the frame's `id:` value, undefined without an `id:` line. EventSource: its lastEventId. */
  id: string | undefined
  /** The data, as sent. */
  text: string
  data: any
}

interface Client { readonly messages: Message[], close (): void }

/** An event-stream client on node:http that keeps the exact bytes and parses the frames itself. */
class RawClient implements Client {
  readonly chunks: Buffer[] = []
  readonly messages: Message[] = []
  /** Lines that are neither `id: ` nor `data: `, and data that is not JSON. */
  readonly badLines: string[] = []
  /** Frames that carried more than one `data:` line or more than one `id:` line. */
  readonly oddFrames: string[] = []
  response: http.IncomingMessage | undefined
  /** The body ended cleanly (the chunked encoding's last chunk arrived). */
  ended = false
  /** The connection is gone. */
  closed = false
  readonly req: http.ClientRequest
  private readonly decoder = new StringDecoder('utf8')

  constructor (port: number, headers: Record<string, string> = {}) {
    this.req = http.get({ host: '127.0.0.1', port, path: '/api/events', agent: false, headers }, response => {
      this.response = response
      response.on('data', (chunk: Buffer) => this.receive(chunk))
      response.on('end', () => { this.ended = response.complete })
      response.on('error', () => {})
    })
    this.req.on('error', () => {})
    this.req.on('socket', socket => socket.once('close', () => { this.closed = true }))
  }

  get bytes (): Buffer { return Buffer.concat(this.chunks) }
  get text (): string { return this.bytes.toString('utf8') }

  private readonly read = frameReader(frame => {
    this.badLines.push(...frame.other)
    if (frame.data.length !== 1 || frame.ids > 1) this.oddFrames.push(frame.text)
    const text = frame.data.join('\n')
    let parsed: unknown
    try { parsed = JSON.parse(text) } catch { this.badLines.push(text) }
    this.messages.push({ id: frame.id, text, data: parsed })
  })

  private receive (chunk: Buffer) {
    this.chunks.push(chunk)
    this.read(this.decoder.write(chunk))
  }

  pause () { this.response?.pause() }
  resume () { this.response?.resume() }
  close () { this.req.destroy() }
}

/** The `eventsource` package: a browser's EventSource, with its own reconnect and Last-Event-ID. */
class EsClient implements Client {
  readonly messages: Message[] = []
  /** The headers of every request it made (the first connect and each reconnect). */
  readonly requests: Array<Record<string, string>> = []
  opens = 0
  errors = 0
  /** While set, a (re)connect waits for it before it reaches the server. */
  gate: Promise<void> | null = null
  readonly es: EventSource

  constructor (url: string) {
    this.es = new EventSource(`${url}/api/events`, {
      fetch: async (input, init) => {
        this.requests.push({ ...init.headers })
        if (this.gate !== null) await this.gate
        return await fetch(input, init)
      }
    })
    this.es.onopen = () => { this.opens++ }
    this.es.onerror = () => { this.errors++ }
    this.es.onmessage = event => {
      let data: unknown
      try { data = JSON.parse(event.data) } catch { data = undefined }
      this.messages.push({ id: event.lastEventId, text: event.data, data })
    }
  }

  close () { this.es.close() }
}

function rawClient (t: Test, port: number, headers: Record<string, string> = {}): RawClient {
  const client = new RawClient(port, headers)
  t.teardown(() => client.close())
  return client
}

function esClient (t: Test, url: string): EsClient {
  const client = new EsClient(url)
  t.teardown(() => client.close())
  return client
}

const typesOf = (messages: Message[]) => messages.map(message => message.data?.type as string)
/** The state-changing messages (SPEC §5: the ones with an `id:`). */
const stateEvents = (client: Client) => client.messages.filter(message => STATE_TYPES.has(message.data?.type))
/** State-changing messages without the monitor's (see the top of the file). */
const configEvents = (client: Client) => stateEvents(client).filter(message => !MONITOR_TYPES.has(message.data.type))
const withoutMonitor = (types: Array<string | undefined>) => types.filter(type => type === undefined || !MONITOR_TYPES.has(type))
/** The state-changing messages after the one with id `id`. */
const after = (messages: Message[], id: string) => messages.filter(message => Number(message.id) > Number(id))
const idAndText = (messages: Message[]) => messages.map(message => [message.id, message.text])
const hasInitial = (client: Client) => client.messages.some(message => message.data?.type === 'initial')

// Ajv rather than TypeBox's Value.Check: Value cannot check these schemas (it throws
// "Unknown type" on the Type.Unsafe enum of netapp.apiType, and compiles the group-name
// pattern's \p{L} without the `u` flag), while Ajv, which the plugin itself uses, can.
const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false, coerceTypes: false })
ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' })
const isStreamMessage = ajv.compile(StreamMessage)
const isHeartbeat = ajv.compile(HeartbeatMessage)

function invalidMessages (client: Client) {
  return client.messages
    .filter(message => !isStreamMessage(message.data))
    .map(message => {
      isStreamMessage(message.data)
      return { text: message.text.slice(0, 300), errors: (isStreamMessage.errors ?? []).slice(0, 3).map(error => `${error.instancePath}: ${error.message}`) }
    })
}

/** Why `ids` are not strictly increasing integers, or null when they are. */
function idProblem (ids: Array<string | undefined>): string | null {
  let previous = -Infinity
  for (const id of ids) {
    const value = Number(id)
    if (!(id !== undefined && /^\d+$/.test(id) && Number.isSafeInteger(value) && value > previous)) return `${id} after ${previous}`
    previous = value
  }
  return null
}

const SNMP_SECRET = 'snmp-c0mmunity-Zq81vT'
const NETAPP_SECRET = 'netapp-pa55word-Xw27rH'
const NETAPP_SECRET_2 = 'netapp-pa55word-second-Pk44'
const HAND_SECRET = 'hand-edited-c0mmunity-Lm55'
const SECRETS = [SNMP_SECRET, NETAPP_SECRET, NETAPP_SECRET_2, HAND_SECRET]

const withSecrets = (overrides: Record<string, unknown> = {}) => validServer({
  snmp: { enabled: true, community: SNMP_SECRET, disks: [{ index: 31, name: 'root' }, { index: 36 }] },
  netapp: { enabled: true, apiType: 'rest', username: 'monitor', password: NETAPP_SECRET, luns: [{ name: 'lun0', path: '/vol/v0/lun0' }] },
  ...overrides
})

// ---- 1. fan-out, order, framing, schemas, secrets -------------------------------------------

t.test('every client receives every event of a scripted sequence exactly once, in order, valid and without secrets', async t => {
  const s = await startEvents(t, QUIET)
  const raws = [
    rawClient(t, s.port), // no Accept header at all
    rawClient(t, s.port, { accept: '*/*' }), // what curl sends
    rawClient(t, s.port, { accept: 'text/event-stream' })
  ]
  const sources = [esClient(t, s.url), esClient(t, s.url), esClient(t, s.url)]
  const clients: Client[] = [...raws, ...sources]
  await waitFor(() => clients.every(client => client.messages.length >= 2), 15000, 'connected + initial on every client')
  t.equal(s.hub.clientCount, clients.length, 'the hub counts every stream')

  for (const [i, raw] of raws.entries()) {
    const response = raw.response
    t.equal(response?.statusCode, 200, `raw client ${i}: 200`)
    t.equal(response?.headers['content-type'], 'text/event-stream', `raw client ${i}: content-type`)
    t.equal(response?.headers['cache-control'], 'no-cache', `raw client ${i}: cache-control`)
    t.equal(response?.headers['x-accel-buffering'], 'no', `raw client ${i}: x-accel-buffering`)
  }

  // The script. Each step's expected events come from the API's own answers.
  const expected: unknown[] = []
  const groupsNow = async () => (await s.call('GET', '/api/config/groups')).json.data
  const ok = (answer: Answer, status = 200) => { t.equal(answer.status, status, answer.text.slice(0, 300)); return answer.json.data }

  const alpha = ok(await s.call('POST', '/api/config/servers', withSecrets({ name: 'alpha', dnsAddress: '127.0.0.11' })), 201)
  expected.push({ type: 'serverAdded', server: alpha })
  const bravo = ok(await s.call('POST', '/api/config/servers', withSecrets({ name: 'bravo', dnsAddress: '127.0.0.12' })), 201)
  expected.push({ type: 'serverAdded', server: bravo })
  const charlie = ok(await s.call('POST', '/api/config/servers', validServer({ name: 'charlie', dnsAddress: '127.0.0.13' })), 201)
  expected.push({ type: 'serverAdded', server: charlie })

  const core = ok(await s.call('POST', '/api/config/groups', { name: 'Core', serverIds: [alpha.id, bravo.id] }), 201)
  expected.push({ type: 'groupsChanged', groups: await groupsNow() })
  const edge = ok(await s.call('POST', '/api/config/groups', { name: 'Edge', serverIds: [bravo.id], rowNumber: 2 }), 201)
  expected.push({ type: 'groupsChanged', groups: await groupsNow() })

  // The browser's edit form sends back what it got (masks and mirrors included).
  const { id: _alphaId, ...alphaAsShown } = ok(await s.call('GET', `/api/config/servers/${alpha.id}`))
  const alphaRenamed = ok(await s.call('PUT', `/api/config/servers/${alpha.id}`, { ...alphaAsShown, name: 'alpha-renamed' }))
  expected.push({ type: 'serverUpdated', server: alphaRenamed })

  ok(await s.call('PUT', `/api/config/groups/${core.id}`, { name: 'Core services', serverIds: [bravo.id, alpha.id] }))
  expected.push({ type: 'groupsChanged', groups: await groupsNow() })

  // A server in two groups: serverRemoved, then groupsChanged without it (fix of SPEC §5).
  ok(await s.call('DELETE', `/api/config/servers/${bravo.id}`))
  const withoutBravo = await groupsNow()
  t.notOk(JSON.stringify(withoutBravo).includes(bravo.id), 'the deleted server left every group')
  expected.push({ type: 'serverRemoved', serverId: bravo.id }, { type: 'groupsChanged', groups: withoutBravo })

  // A server in no group: serverRemoved only.
  ok(await s.call('DELETE', `/api/config/servers/${charlie.id}`))
  expected.push({ type: 'serverRemoved', serverId: charlie.id })

  ok(await s.call('DELETE', `/api/config/groups/${edge.id}?reassign=unassign`))
  expected.push({ type: 'groupsChanged', groups: await groupsNow() })

  // A new secret is stored, and still never sent.
  const alphaNewPassword = ok(await s.call('PUT', `/api/config/servers/${alpha.id}`, withSecrets({
    name: 'alpha-renamed',
    dnsAddress: '127.0.0.11',
    netapp: { enabled: true, apiType: 'rest', username: 'monitor', password: NETAPP_SECRET_2, luns: [{ name: 'lun0', path: '/vol/v0/lun0' }] }
  })))
  expected.push({ type: 'serverUpdated', server: alphaNewPassword })
  const stored = JSON.parse(await settledFileText(s.app, s.dataFile))
  t.equal(stored.servers[0].netapp.password, NETAPP_SECRET_2, 'the new secret was stored (so it could have leaked)')
  t.equal(stored.servers[0].snmp.community, SNMP_SECRET)

  await waitFor(() => clients.every(client => configEvents(client).length >= expected.length), 15000, 'every event on every client')
  t.equal(expected.length, 12)

  const reference = stateEvents(raws[0]!)
  for (const [i, client] of clients.entries()) {
    const label = `${client instanceof RawClient ? 'raw' : 'eventsource'} client ${i}`
    t.same(configEvents(client).map(message => message.data), expected, `${label}: the scripted sequence, in order, each event once`)
    t.same(idAndText(stateEvents(client)), idAndText(reference), `${label}: the same events with the same ids as every other client`)
    t.same(typesOf(client.messages.slice(0, 2)), ['connected', 'initial'], `${label}: connected first, initial second`)
    t.same(client.messages[1]?.data, { type: 'initial', servers: [], groups: [] }, `${label}: the initial snapshot of the empty config`)
    t.same(invalidMessages(client), [], `${label}: every message validates against StreamMessage`)
    for (const secret of SECRETS) t.notOk(client.messages.some(message => message.text.includes(secret)), `${label}: no ${secret}`)
    t.equal(idProblem([client.messages[1]!.id, ...stateEvents(client).map(message => message.id)]), null, `${label}: initial and every event carry strictly increasing integer ids`)
  }

  for (const [i, raw] of raws.entries()) {
    const bytes = raw.bytes
    for (const secret of SECRETS) t.notOk(bytes.includes(secret), `raw client ${i}: the bytes do not contain ${secret}`)
    t.notMatch(raw.text, /^event:/m, `raw client ${i}: no event: line`)
    t.same(raw.badLines, [], `raw client ${i}: only id: and data: lines, JSON data`)
    t.same(raw.oddFrames, [], `raw client ${i}: one data: line per frame`)
    t.equal(raw.messages[0]!.id, undefined, `raw client ${i}: connected carries no id`)
    t.equal(raw.messages[0]!.text, '{"type":"connected","message":"Connected to server status stream"}')
    t.ok(stateEvents(raw).every(message => message.id !== undefined), `raw client ${i}: every state change has an id: line`)
    t.ok(raw.messages.filter(message => !STATE_TYPES.has(message.data?.type) && message.data?.type !== 'initial').every(message => message.id === undefined),
      `raw client ${i}: connected/heartbeat carry no id: line`)
  }
})

// ---- 2. published before the response ------------------------------------------------------

t.test('the events of a change are written to the streams before its response', async t => {
  const s = await startEvents(t, QUIET)
  // One ordered log of what the server process does: frames handed to the event stream
  // (ServerResponse.write), the bus delivering events, and the head of every other
  // response (Fastify writes it with writeHead, then the body with end).
  const log: string[] = []
  s.app.server.on('request', (req: http.IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/api/events')) {
      const write = res.write
      res.write = function (this: ServerResponse, ...args: unknown[]) {
        log.push(`frame ${String(args[0])}`)
        return (write as (...a: unknown[]) => boolean).apply(this, args)
      } as typeof res.write
    } else {
      const writeHead = res.writeHead
      res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
        log.push(`response ${req.method} ${req.url}`)
        return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args)
      } as typeof res.writeHead
    }
  })
  const unsubscribe = s.bus.subscribe(event => log.push(`bus ${event.type}`))
  t.teardown(unsubscribe)

  const raw = rawClient(t, s.port)
  await waitFor(() => raw.messages.length >= 2, 10000, 'connected + initial')

  const frameType = (entry: string) => /"type":"(\w+)"/.exec(entry)?.[1]
  async function mutation (method: string, path: string, body: unknown, types: string[]) {
    const mark = log.length
    const before = raw.messages.length
    const answer = await s.call(method, path, body)
    t.ok(answer.status < 300, `${method} ${path}: ${answer.status}`)
    const response = log.indexOf(`response ${method} ${path}`, mark)
    t.ok(response > mark, `${method} ${path}: its response was logged`)
    // (A statusChange the monitor happens to publish meanwhile is no part of the change.)
    const frames = withoutMonitor(log.slice(mark).filter(entry => entry.startsWith('frame ')).map(frameType))
    const framesBefore = withoutMonitor(log.slice(mark, response).filter(entry => entry.startsWith('frame ')).map(frameType))
    t.same(framesBefore, types, `${method} ${path}: ${types.join(' + ')} handed to the stream before the response head`)
    t.equal(frames.length, framesBefore.length, `${method} ${path}: no frame of it after the response`)
    t.same(withoutMonitor(log.slice(mark, response).filter(entry => entry.startsWith('bus ')).map(entry => entry.slice(4))), types, `${method} ${path}: published on the bus before the response`)
    // The frames were on the socket before the response was: the client has them at once
    // (the short wait only covers the two sockets being read in either order).
    await waitFor(() => withoutMonitor(typesOf(raw.messages.slice(before))).length >= types.length, 10_000, `${method} ${path}: frames at the client`)
    t.same(withoutMonitor(typesOf(raw.messages.slice(before))), types, `${method} ${path}: the client got them`)
    return answer.json.data
  }

  const one = await mutation('POST', '/api/config/servers', validServer({ name: 'one', dnsAddress: '127.0.0.21' }), ['serverAdded'])
  const two = await mutation('POST', '/api/config/servers', validServer({ name: 'two', dnsAddress: '127.0.0.22' }), ['serverAdded'])
  await mutation('PUT', `/api/config/servers/${one.id}`, validServer({ name: 'one-b', dnsAddress: '127.0.0.21' }), ['serverUpdated'])
  const group = await mutation('POST', '/api/config/groups', { name: 'G', serverIds: [one.id, two.id] }, ['groupsChanged'])
  await mutation('PUT', `/api/config/groups/${group.id}`, { name: 'G2', serverIds: [two.id, one.id] }, ['groupsChanged'])
  await mutation('DELETE', `/api/config/servers/${two.id}`, undefined, ['serverRemoved', 'groupsChanged'])
  await mutation('DELETE', `/api/config/groups/${group.id}?reassign=default`, undefined, ['groupsChanged'])

  // The host's `estatus.store`: the event has gone out when the call resolves.
  const mark = log.length
  const created = await s.app.estatus.store.createServer(validServer({ name: 'three', dnsAddress: '127.0.0.23' }))
  const own = log.slice(mark).filter(entry => entry.includes('serverAdded'))
  t.same(own.map(entry => entry.split(' ')[0]), ['frame', 'bus'], 'store.createServer resolves after its frame and bus event')
  t.match(own[0], new RegExp(`"serverAdded".*"${created.value.id}"`))
})

// ---- 3. resume --------------------------------------------------------------------------------

t.test('resume with Last-Event-ID: exactly the missed events, no initial', async t => {
  const s = await startEvents(t, QUIET)
  const reference = rawClient(t, s.port)
  const leaver = rawClient(t, s.port)
  await waitFor(() => reference.messages.length >= 2 && leaver.messages.length >= 2, 10000, 'both connected')

  const add = async (name: string, last: string) => {
    const answer = await s.call('POST', '/api/config/servers', validServer({ name, dnsAddress: `127.0.0.${last}` }))
    t.equal(answer.status, 201)
    return answer.json.data.id as string
  }
  const a = await add('a', '31')
  const b = await add('b', '32')
  await waitFor(() => configEvents(leaver).length >= 2, 10000, 'the leaver has two events')
  const seen = configEvents(leaver)[1]!.id!
  leaver.close()
  await waitFor(() => s.hub.clientCount === 1, 10000, 'the leaver is gone from the hub')

  // Missed: four events, one of them a server delete that also changes a group.
  const c = await add('c', '33')
  const group = (await s.call('POST', '/api/config/groups', { name: 'G', serverIds: [a, b, c] })).json.data
  t.ok(group.id)
  t.equal((await s.call('DELETE', `/api/config/servers/${b}`)).status, 200)
  await waitFor(() => configEvents(reference).length >= 6, 10000, 'the reference has six events')
  const missed = after(stateEvents(reference), seen)
  t.same(withoutMonitor(typesOf(missed)), ['serverAdded', 'groupsChanged', 'serverRemoved', 'groupsChanged'])

  const back = rawClient(t, s.port, { 'last-event-id': seen })
  await waitFor(() => back.messages.length >= 1 + missed.length, 10000, 'the missed events')
  // And one live event after the replay, to show that nothing else was queued in between.
  await add('d', '34')
  await waitFor(() => configEvents(back).length >= 5 && configEvents(reference).length >= 7, 10000, 'the live event')
  t.equal(back.messages[0]!.data.type, 'connected', 'connected first')
  t.notOk(hasInitial(back), 'no initial on resume')
  t.same(idAndText(back.messages.slice(1)), idAndText(after(stateEvents(reference), seen)), 'exactly the missed events, then the live one, with their ids')
  t.same(withoutMonitor(typesOf(back.messages)), ['connected', 'serverAdded', 'groupsChanged', 'serverRemoved', 'groupsChanged', 'serverAdded'])

  // The newest id: only `connected`; the next frame is the next live event.
  const newest = stateEvents(reference).at(-1)!.id!
  const current = rawClient(t, s.port, { 'last-event-id': newest })
  await waitFor(() => current.messages.length >= 1, 10000, 'connected')
  await add('e', '35')
  await waitFor(() => configEvents(current).length >= 1 && configEvents(reference).length >= 8, 10000, 'the live event')
  t.same(withoutMonitor(typesOf(current.messages)), ['connected', 'serverAdded'], 'up to date: connected, then only live events')
  t.same(idAndText(current.messages.slice(1)), idAndText(after(stateEvents(reference), newest)))

  // Garbage and unknown ids: a fresh snapshot of the current state.
  const groups = (await s.call('GET', '/api/config/groups')).json.data
  const statusIds = (await s.call('GET', '/api/servers')).json.data.map((server: { id: string }) => server.id)
  t.same(statusIds.length, 4)
  const newestNow = () => Number(stateEvents(reference).at(-1)!.id)
  for (const header of ['abc', '', '-1', '1.5', '0', '1', '1e3', String(newestNow() + 1), String(newestNow() + 1000000)]) {
    const fresh = rawClient(t, s.port, { 'last-event-id': header })
    await waitFor(() => fresh.messages.length >= 2, 10000, `an answer to Last-Event-ID '${header}'`)
    t.same(typesOf(fresh.messages.slice(0, 2)), ['connected', 'initial'], `Last-Event-ID '${header}': connected + initial`)
    const initial = fresh.messages[1]!.data
    t.same(initial.groups, groups, `Last-Event-ID '${header}': the current groups`)
    t.same(initial.servers.map((server: { id: string }) => server.id), statusIds, `Last-Event-ID '${header}': the current servers`)
    await waitFor(() => Number(fresh.messages[1]!.id) <= newestNow(), 10000, 'the reference at the same point')
    t.equal(fresh.messages[1]!.id, String(newestNow()), 'the snapshot carries the id of the newest event it reflects')
    fresh.close()
  }
})

t.test('resume after the replay buffer moved on: a fresh initial; the oldest kept id still resumes', async t => {
  const s = await startEvents(t, { ...QUIET, replayEvents: 3 })
  const first = rawClient(t, s.port)
  await waitFor(() => first.messages.length >= 2, 10000, 'connected + initial')
  const start = Number(first.messages[1]!.id)
  first.close()

  // Groups only: no probe targets, so nothing but these five events gets an id.
  const lists: unknown[] = []
  for (let i = 1; i <= 5; i++) {
    t.equal((await s.call('POST', '/api/config/groups', { name: `g${i}`, serverIds: [] })).status, 201)
    lists.push((await s.call('GET', '/api/config/groups')).json.data)
  }

  // Ids start+1 … start+5 were published; the buffer holds the last three.
  const boundary = rawClient(t, s.port, { 'last-event-id': String(start + 2) })
  await waitFor(() => boundary.messages.length >= 4, 10000, 'the three kept events')
  t.same(typesOf(boundary.messages), ['connected', 'groupsChanged', 'groupsChanged', 'groupsChanged'], 'the oldest resumable id gets the whole buffer')
  t.same(boundary.messages.slice(1).map(message => message.id), [3, 4, 5].map(n => String(start + n)))
  t.same(boundary.messages.slice(1).map(message => message.data.groups), lists.slice(2))

  for (const id of [start + 1, start]) {
    const expired = rawClient(t, s.port, { 'last-event-id': String(id) })
    await waitFor(() => expired.messages.length >= 2, 10000, 'an answer')
    t.same(typesOf(expired.messages.slice(0, 2)), ['connected', 'initial'], `expired id start+${id - start}: connected + initial`)
    t.same(expired.messages[1]!.data.groups, lists[4], 'the snapshot is current')
    t.equal(expired.messages[1]!.id, String(start + 5))
    t.equal(expired.messages.length, 2, 'and nothing replayed after it')
  }
})

t.test('the eventsource client reconnects by itself after the server drops it, without duplicates or gaps', async t => {
  const s = await startEvents(t, QUIET)
  const streams: Array<{ req: http.IncomingMessage, res: ServerResponse }> = []
  s.app.server.on('request', (req: http.IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/api/events')) streams.push({ req, res })
  })
  const reference = rawClient(t, s.port)
  await waitFor(() => reference.messages.length >= 2, 10000, 'reference connected')
  const source = esClient(t, s.url)
  await waitFor(() => source.messages.length >= 2, 10000, 'eventsource connected')

  // Groups only (no probe targets, so these are the only events).
  const add = async (name: string) => t.equal((await s.call('POST', '/api/config/groups', { name, serverIds: [] })).status, 201)
  await add('a')
  await add('b')
  await waitFor(() => stateEvents(source).length >= 2, 10000, 'two events')
  const lastSeen = stateEvents(source)[1]!.id

  // Hold its reconnect until the missed events exist, so they must come from the replay.
  let open!: () => void
  source.gate = new Promise(resolve => { open = resolve })
  const ours = streams.find(stream => stream.req.headers.accept === 'text/event-stream')
  t.ok(ours, 'the eventsource stream seen on the server')
  ours!.res.socket?.destroy()
  await waitFor(() => s.hub.clientCount === 1, 10000, 'the dropped stream left the hub')
  await add('c')
  t.equal((await s.call('PUT', '/api/config/groups/group-1', { name: 'a2', serverIds: [] })).status, 200)
  await waitFor(() => source.requests.length >= 2, 15000, 'the eventsource reconnect attempt')
  open()
  await waitFor(() => s.hub.clientCount === 2, 15000, 'the eventsource is back')
  await add('d')
  await waitFor(() => stateEvents(source).length >= 5 && stateEvents(reference).length >= 5, 10000, 'every event')

  t.equal(source.requests[1]!['Last-Event-ID'], lastSeen, 'the reconnect sent Last-Event-ID')
  t.same(typesOf(source.messages), ['connected', 'initial', 'groupsChanged', 'groupsChanged', 'connected', 'groupsChanged', 'groupsChanged', 'groupsChanged'],
    'connected, replay and live events after the reconnect, no second initial')
  t.same(idAndText(stateEvents(source)), idAndText(stateEvents(reference)), 'the same events with the same ids as a client that never left')
  t.ok(source.errors >= 1 && source.opens === 2, 'one error, two opens')
})

// ---- 4. slow clients -----------------------------------------------------------------------

t.test('a client that stops reading is disconnected; the others get every event; it resumes', async t => {
  const s = await startEvents(t, { ...QUIET, sseMaxBufferedBytes: 64 * 1024, replayEvents: 5000 })
  // Each ~22 KB event is well under the bound, so a client that reads is never near it;
  // one that does not read passes it once the kernel's socket buffers are full.
  const { published, change } = await bigEvents(t, s)

  const slow = rawClient(t, s.port)
  const fast = [rawClient(t, s.port), rawClient(t, s.port)]
  const source = esClient(t, s.url)
  const readers: Client[] = [...fast, source]
  await waitFor(() => [slow, ...readers].every(client => client.messages.length >= 2), 10000, 'everyone connected')
  slow.pause()
  t.equal(s.hub.clientCount, 4)
  t.equal(await s.connections(), 4)

  let changes = 0
  while (s.hub.clientCount === 4 && changes < 2000) {
    await change()
    changes++
  }
  t.equal(s.hub.clientCount, 3, `the stalled client was disconnected (after ${changes} events of ~${published.at(-1) ? JSON.stringify(published.at(-1)).length : 0} bytes)`)
  await waitFor(async () => (await s.connections()) === 3, 10000, 'its socket closed on the server')
  for (let i = 0; i < 5; i++) await change()
  t.equal(s.hub.clientCount, 3, 'the reading clients are all still there')

  await everyEventAtEveryReader(t, readers, fast, published)

  // It resumes: what reached it before the cut, then the rest by Last-Event-ID.
  slow.resume()
  await waitFor(() => slow.closed, 10000, 'the stalled client sees its connection end')
  const got = stateEvents(slow)
  t.ok(got.length < published.length, `it had got ${got.length} of ${published.length}`)
  const lastId = got.at(-1)?.id ?? slow.messages[1]!.id!
  const resumed = rawClient(t, s.port, { 'last-event-id': lastId })
  await waitFor(() => stateEvents(resumed).length >= published.length - got.length, 10000, 'the rest')
  t.notOk(hasInitial(resumed))
  t.same([...got, ...stateEvents(resumed)].map(message => message.text), published.map(event => JSON.stringify(event)), 'before the cut + after the resume = every event exactly once')
  t.same(idAndText([...got, ...stateEvents(resumed)]), idAndText(stateEvents(fast[0]!)), 'with the same ids as a reading client')
})

t.test('a new client\'s initial frame does not count against the slow-client bound while it drains', async t => {
  const s = await startEvents(t, { ...QUIET, sseMaxBufferedBytes: 16 * 1024 })
  // A snapshot of megabytes (issue 8: 19 MB with 50,000 servers), more than the loopback
  // socket buffers take (up to 4 MB here), so most of it waits in the server's stream.
  const servers = Array.from({ length: 40000 }, (_, i) => ({ id: `server-${i + 1}`, ...validServer({ name: `s-${i}` }) }))
  await s.app.estatus.store.replace({ version: 1, nextServerId: 40001, nextGroupId: 1, servers, groups: [] })
  const late = rawClient(t, s.port)
  late.pause()
  await waitFor(() => s.hub.clientCount === 1, 10000, 'the client joined')
  t.equal((await s.call('POST', '/api/config/servers', validServer({ name: 'while-it-drains' }))).status, 201)
  t.equal(s.hub.clientCount, 1, 'an event while the snapshot is still unsent does not drop the client')
  late.resume()
  await waitFor(() => configEvents(late).length >= 1, 20000, 'the event after the snapshot')
  t.ok(hasInitial(late), 'it got the whole snapshot')
  t.equal(configEvents(late)[0]!.data.server.name, 'while-it-drains')
})

// The slow-client policy (plugins/sse.ts): a client over the bound is dropped only once it
// has stayed over it for longer than a grace period while events keep coming, or at once
// when it is four bounds behind. The tests below watch the server side of a stalled stream
// (its ServerResponse's `writableLength`, the unsent data the policy looks at) and publish
// one event at a time until it is over the bound, so the loopback socket buffers, whatever
// their size, only decide how many events that takes; nothing depends on timing except the
// deliberate wait past the grace.

/** plugins/sse.ts's SLOW_CLIENT_GRACE_MS (not exported). */
const SLOW_CLIENT_GRACE_MS = 1000
const DROP_MESSAGE = 'disconnecting an event stream client that does not keep up'

/** Every reading client got every published event, in order, exactly once, and none was dropped. */
async function everyEventAtEveryReader (t: Pick<typeof import('tap').default, 'same' | 'notOk'>, readers: Client[], fast: RawClient[], published: EstatusEvent[]) {
  await waitFor(() => readers.every(client => stateEvents(client).length >= published.length), 30000, 'every event at every reader')
  for (const [i, client] of readers.entries()) {
    t.same(stateEvents(client).map(message => message.text), published.map(event => JSON.stringify(event)), `reader ${i}: every event, in order, once`)
  }
  t.notOk(fast.some(client => client.closed), 'no reading client was dropped')
}

/**
 * The setup of the test above: groupsChanged events of ~22 KB (15 groups listing 20 servers
 * with 64-character ids). `change()` publishes one; it resolves after the frame was handed
 * to every stream (the store publishes before it resolves). `published` gets every bus event
 * from here on.
 */
async function bigEvents (t: Test, s: EventsApp) {
  const store = s.app.estatus.store
  const serverIds: string[] = []
  for (let i = 0; i < 20; i++) {
    const id = `srv-${i}-`.padEnd(64, 'x')
    await store.createServer(validServer({ id, name: `server ${i}`, dnsAddress: '127.0.0.60' }))
    serverIds.push(id)
  }
  for (let i = 0; i < 15; i++) await store.createGroup({ name: `group ${i} `.padEnd(50, 'g'), serverIds })
  const published: EstatusEvent[] = []
  t.teardown(s.bus.subscribe(event => { published.push(event) }))
  let n = 0
  const change = async () => { await store.updateGroup('group-1', { name: `renamed ${n++}`, serverIds }) }
  return { published, change }
}

/** The server side of each event stream whose request carried an `x-test-client` header, by its value. */
function streamsByTag (s: EventsApp): Map<string, ServerResponse> {
  const streams = new Map<string, ServerResponse>()
  s.app.server.on('request', (req: http.IncomingMessage, res: ServerResponse) => {
    const tag = req.headers['x-test-client']
    if (typeof tag === 'string' && req.url?.startsWith('/api/events')) streams.set(tag, res)
  })
  return streams
}

/** Publishes one event at a time until `stream` has more than `bound` bytes unsent; returns how many it took. */
async function fillOver (stream: ServerResponse, bound: number, change: () => Promise<void>): Promise<number> {
  let events = 0
  while (stream.writableLength <= bound) {
    if (stream.destroyed) throw new Error(`the stream was dropped under the bound (after ${events} events)`)
    if (++events > 5000) throw new Error(`only ${stream.writableLength} bytes unsent after 5000 events`)
    await change()
  }
  return events
}

t.test('a client over the bound (under four bounds) that drains within the grace period keeps its stream: every event once, in order', async t => {
  const bound = 64 * 1024
  const s = await startEvents(t, { ...QUIET, sseMaxBufferedBytes: bound, replayEvents: 5000 })
  const streams = streamsByTag(s)
  const { published, change } = await bigEvents(t, s)

  const slow = rawClient(t, s.port, { 'x-test-client': 'slow' })
  const readers: Client[] = [rawClient(t, s.port), esClient(t, s.url)]
  await waitFor(() => [slow, ...readers].every(client => client.messages.length >= 2), 10000, 'everyone connected')
  const stream = streams.get('slow')
  if (stream === undefined) throw new Error('the slow client\'s stream was not seen on the server')
  t.equal(s.hub.clientCount, 3)

  // Twice, the second stall starting well after the grace of the first: draining resets it.
  for (const round of [1, 2]) {
    slow.pause()
    const events = await fillOver(stream, bound, change)
    // Two more events, in one write of the store (so at the same moment): the first finds
    // the client over the bound (the old policy dropped it right there), the second finds
    // it still over, within the grace.
    await Promise.all([change(), change()])
    const backlog = stream.writableLength
    t.ok(backlog > bound && backlog < 4 * bound, `round ${round}: ${backlog} bytes unsent after ${events + 2} events: over the bound of ${bound}, under four bounds`)
    t.equal(s.hub.clientCount, 3, `round ${round}: still in the hub`)
    t.notOk(stream.destroyed, `round ${round}: its stream is open`)

    slow.resume()
    await waitFor(() => stream.writableLength === 0 && stateEvents(slow).length >= published.length, 30000, `round ${round}: the backlog drained`)
    for (let i = 0; i < 3; i++) await change()
    await waitFor(() => stateEvents(slow).length >= published.length, 10000, `round ${round}: the events after the drain`)
    t.equal(s.hub.clientCount, 3, `round ${round}: still in the hub after the drain`)
    if (round === 1) await sleep(SLOW_CLIENT_GRACE_MS + 300)
  }

  t.notOk(slow.closed, 'never disconnected')
  t.equal(slow.messages[0]!.data?.type, 'connected')
  t.equal(slow.messages.filter(message => message.data?.type === 'connected').length, 1, 'one connection throughout')
  t.same(stateEvents(slow).map(message => message.text), published.map(event => JSON.stringify(event)), 'the stalled client got every event, in order, once')
  t.same(slow.badLines, [])
  t.same(slow.oddFrames, [])
  await waitFor(() => readers.every(client => stateEvents(client).length >= published.length), 30000, 'every event at every reader')
  for (const [i, client] of readers.entries()) {
    t.same(idAndText(stateEvents(client)), idAndText(stateEvents(slow)), `reader ${i}: the same events with the same ids`)
  }
  t.equal(await s.connections(), 3)
})

t.test('a client that stays over the bound past the grace period is dropped at the next event, one four bounds behind at once; the others get every event', async t => {
  const bound = 64 * 1024
  const logs: Array<{ msg?: string, buffered?: number }> = []
  const stream = { write (line: string) { logs.push(JSON.parse(line)) } }
  const s = await startEvents(t, { ...QUIET, sseMaxBufferedBytes: bound, replayEvents: 5000 }, { fastify: { logger: { level: 'warn', stream } } })
  const drops = () => logs.filter(entry => entry.msg === DROP_MESSAGE).map(entry => entry.buffered ?? NaN)
  const streams = streamsByTag(s)
  const { published, change } = await bigEvents(t, s)

  const far = rawClient(t, s.port, { 'x-test-client': 'far' })
  const late = rawClient(t, s.port, { 'x-test-client': 'late' })
  const fast = [rawClient(t, s.port), rawClient(t, s.port)]
  const readers: Client[] = [...fast, esClient(t, s.url)]
  await waitFor(() => [far, late, ...readers].every(client => client.messages.length >= 2), 10000, 'everyone connected')
  const farStream = streams.get('far')
  const lateStream = streams.get('late')
  if (farStream === undefined || lateStream === undefined) throw new Error('the stalled clients\' streams were not seen on the server')
  t.equal(s.hub.clientCount, 5)

  // 1. Four bounds behind: dropped at once, well within the grace. A burst of events in one
  // write of the store (at the same moment) takes it from just over the bound past four
  // bounds. Node's http corks a response's writes until the next tick, so the burst is
  // unsent at every client for that tick: the burst is sized so that the reading clients,
  // which start it from an empty backlog, stay about one bound below four bounds.
  far.pause()
  const farEvents = await fillOver(farStream, bound, change)
  t.equal(s.hub.clientCount, 5, `over the bound after ${farEvents} events, not dropped yet`)
  const frameBytes = Buffer.byteLength(JSON.stringify(published.at(-1))) // a frame is this plus its id: line
  const burst = Math.ceil((4 * bound - farStream.writableLength) / frameBytes) + 1
  await Promise.all(Array.from({ length: burst }, () => change()))
  t.ok(lateStream.writableLength < 4 * bound, `a reading client had ${lateStream.writableLength} bytes of the burst unsent: under four bounds`)
  t.equal(s.hub.clientCount, 4, `four bounds behind: dropped within the same write (a burst of ${burst} events)`)
  t.ok(farStream.destroyed, 'its stream was destroyed')
  t.equal(drops().length, 1, 'one drop logged')
  t.ok(drops()[0]! > 4 * bound, `dropped with ${drops()[0]} bytes unsent: over four bounds (${4 * bound})`)

  // 2. Over the bound, under four bounds, and it never reads again. (It first reads what
  // the burst above left unsent to it too, so its stall starts from an empty backlog.)
  await waitFor(() => lateStream.writableLength === 0 && stateEvents(late).length >= published.length, 30000, 'the burst drained to the reading client')
  late.pause()
  const lateEvents = await fillOver(lateStream, bound, change)
  await Promise.all([change(), change()])
  const backlog = lateStream.writableLength
  t.ok(backlog > bound && backlog < 4 * bound, `${backlog} bytes unsent after ${lateEvents + 2} events: over the bound, under four bounds`)
  t.equal(s.hub.clientCount, 4, 'within the grace: kept')
  t.equal(drops().length, 1)
  await sleep(SLOW_CLIENT_GRACE_MS + 300)
  t.notOk(lateStream.destroyed, 'no event during the grace: nothing has dropped it yet')
  await change()
  t.equal(s.hub.clientCount, 3, 'over the bound for longer than the grace: dropped at the next event')
  t.ok(lateStream.destroyed, 'its stream was destroyed')
  t.equal(drops().length, 2, 'a second drop logged')
  t.ok(drops()[1]! > bound && drops()[1]! <= 4 * bound, `dropped with ${drops()[1]} bytes unsent: by the grace, not by the four bounds rule`)
  await waitFor(async () => (await s.connections()) === 3, 10000, 'both stalled sockets closed on the server')

  // The others were never held up and keep receiving.
  for (let i = 0; i < 5; i++) await change()
  t.equal(s.hub.clientCount, 3, 'the reading clients are all still there')
  await everyEventAtEveryReader(t, readers, fast, published)
  t.ok(stateEvents(late).length < published.length && stateEvents(far).length < published.length, 'the stalled clients did not get everything')
})

// ---- 5. nothing left behind ------------------------------------------------------------------

t.test('1,000 connect/disconnect cycles leave nothing behind', async t => {
  // The host (embedding app) has an async onRequest hook, as an authentication check would
  // be: a request tagged `x-hold` is held until its client has gone, so the SSE handler
  // only runs for a connection that is already closed.
  const held = new Map<string, () => void>()
  const s = await startEvents(t, QUIET, {
    before: app => app.addHook('onRequest', async request => {
      const tag = request.headers['x-hold']
      if (typeof tag !== 'string') return
      held.get(tag)?.()
      const socket = request.raw.socket
      if (!socket.destroyed) await once(socket, 'close')
    })
  })
  const count = (name: string) => process.getActiveResourcesInfo().filter(resource => resource === name).length
  const baseline = { timeouts: count('Timeout'), sockets: count('TCPSocketWrap') }

  // The bus keeps its listener set private: count subscriptions made during the cycles
  // (the hub subscribed once at start; a per-connection subscription would show here).
  let subscriptions = 0
  const subscribe = s.bus.subscribe
  s.bus.subscribe = listener => {
    subscriptions++
    const unsubscribe = subscribe.call(s.bus, listener)
    return () => { subscriptions--; unsubscribe() }
  }
  t.teardown(() => { s.bus.subscribe = subscribe })

  let tag = 0
  const cycle = (mode: number) => new Promise<string>(resolve => {
    if (mode === 1) {
      // eventsource: open, read the snapshot, close.
      const source = new EsClient(s.url)
      const started = Date.now()
      const timer = setInterval(() => {
        const done = source.messages.length >= 2
        if (!done && Date.now() - started < 15000) return
        clearInterval(timer)
        source.close()
        resolve(done ? 'eventsource' : 'eventsource without a snapshot')
      }, 5)
      return
    }
    const headers: Record<string, string> = {}
    const name = String(++tag)
    if (mode === 3) headers['x-hold'] = name
    const req = http.get({ host: '127.0.0.1', port: s.port, path: '/api/events', agent: false, headers }, response => {
      let text = ''
      response.on('data', chunk => { text += chunk; if (text.includes('"type":"initial"') && text.endsWith('\n\n')) req.destroy() })
      response.on('error', () => {})
    })
    req.on('error', () => {})
    req.on('close', () => resolve(mode === 0 ? 'read' : mode === 2 ? 'abort' : 'held'))
    if (mode === 2) setImmediate(() => req.destroy()) // gone while the server may still be handling it
    if (mode === 3) held.set(name, () => { held.delete(name); req.destroy() }) // gone before the handler runs
  })

  const modes: Record<string, number> = {}
  for (let batch = 0; batch < 20; batch++) {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => cycle((batch * 50 + i) % 4)))
    for (const result of results) modes[result] = (modes[result] ?? 0) + 1
  }
  t.same(modes, { read: 250, eventsource: 250, abort: 250, held: 250 }, '1,000 cycles of four kinds')
  t.equal(held.size, 0, 'every held request reached the host hook')

  await waitFor(() => s.hub.clientCount === 0, 10000, 'an empty hub').catch(() => {})
  t.equal(s.hub.clientCount, 0, 'no stream is left in the hub')
  await waitFor(async () => (await s.connections()) === 0, 10000, 'no open connection').catch(() => {})
  t.equal(await s.connections(), 0, 'no open connection on the http server')
  await waitFor(() => count('Timeout') <= baseline.timeouts && count('TCPSocketWrap') <= baseline.sockets, 10000, 'resources back to the baseline').catch(() => {})
  t.ok(count('Timeout') <= baseline.timeouts, `timers back to the baseline (${count('Timeout')} <= ${baseline.timeouts})`)
  t.ok(count('TCPSocketWrap') <= baseline.sockets, `TCP sockets back to the baseline (${count('TCPSocketWrap')} <= ${baseline.sockets})`)
  t.equal(subscriptions, 0, 'no bus subscription was added by the connections (the hub\'s one remains the only listener)')

  // And the hub still works.
  const later = rawClient(t, s.port)
  await waitFor(() => later.messages.length >= 2, 10000, 'a new client')
  t.equal((await s.call('POST', '/api/config/servers', validServer({ dnsAddress: '127.0.0.70' }))).status, 201)
  await waitFor(() => stateEvents(later).length >= 1, 10000, 'its event')
  t.equal(s.hub.clientCount, 1)
})

// ---- 6. heartbeat ----------------------------------------------------------------------------

t.test('heartbeat: a JSON data message with no id on every stream', async t => {
  const s = await startEvents(t, { ...QUIET, heartbeatMs: 1000 })
  const raw = rawClient(t, s.port)
  const source = esClient(t, s.url)
  const beats = (client: Client) => client.messages.filter(message => message.data?.type === 'heartbeat')
  await waitFor(() => beats(raw).length >= 2 && beats(source).length >= 2, 15000, 'two heartbeats on each client')

  const initialId = raw.messages[1]!.id
  for (const beat of beats(raw)) {
    t.equal(beat.id, undefined, 'no id: line')
    t.ok(isHeartbeat(beat.data), beat.text)
    t.same(Object.keys(beat.data), ['type', 'timestamp'])
    t.equal(new Date(beat.data.timestamp).toISOString(), beat.data.timestamp, 'an ISO timestamp')
  }
  t.match(raw.text, /\n\ndata: \{"type":"heartbeat","timestamp":"[^"]+"\}\n\n/, 'the frame is a single data: line')
  t.same(raw.badLines, [])
  // (This package reports a frame's own id as lastEventId, '' without one; a browser would
  // repeat the last id. Either way the id it resumes from stays the initial's.)
  for (const beat of beats(source)) t.equal(beat.id, '', 'eventsource: the heartbeat came without an id')
  t.same(invalidMessages(source), [])

  t.equal((await s.call('POST', '/api/config/servers', validServer({ dnsAddress: '127.0.0.80' }))).status, 201)
  await waitFor(() => stateEvents(raw).length >= 1 && stateEvents(source).length >= 1, 10000, 'the event')
  t.ok(Number(stateEvents(raw)[0]!.id) > Number(initialId), 'the next event still has a higher id')
  t.equal(stateEvents(source)[0]!.id, stateEvents(raw)[0]!.id)
})

// ---- 7. shutdown -------------------------------------------------------------------------------

for (const force of [true, undefined] as const) {
  t.test(`app.close() ends every stream cleanly and promptly (forceCloseConnections: ${force})`, async t => {
    const s = await startEvents(t, QUIET, { fastify: { forceCloseConnections: force } })
    const raws = [rawClient(t, s.port), rawClient(t, s.port, { accept: '*/*' }), rawClient(t, s.port)]
    const sources = [esClient(t, s.url), esClient(t, s.url)]
    await waitFor(() => [...raws, ...sources].every(client => client.messages.length >= 2), 10000, 'everyone connected')
    t.equal(s.hub.clientCount, 5)

    const started = Date.now()
    await s.close()
    const took = Date.now() - started
    // Without ending the streams, close() would wait for the clients (for ever, unforced).
    t.ok(took < 5000, `closed in ${took} ms`)
    await waitFor(() => raws.every(raw => raw.closed) && sources.every(source => source.errors > 0), 10000, 'every client sees the end').catch(() => {})
    for (const [i, raw] of raws.entries()) {
      t.ok(raw.ended, `raw client ${i}: the body ended cleanly (last chunk received)`)
      t.ok(raw.closed, `raw client ${i}: the connection closed`)
    }
    for (const [i, source] of sources.entries()) t.ok(source.errors > 0, `eventsource client ${i}: saw the stream end`)
    t.equal(s.hub.clientCount, 0)
  })
}

// ---- 8. hand edits of the data file -------------------------------------------------------------

t.test('hand edits of the data file are published; invalid ones are rejected and reported', async t => {
  const s = await startEvents(t, QUIET)
  const health = async () => (await s.call('GET', '/health')).json
  const ok = (answer: Answer, status = 200) => { t.equal(answer.status, status, answer.text.slice(0, 300)); return answer.json.data }
  const alpha = ok(await s.call('POST', '/api/config/servers', validServer({ name: 'alpha', dnsAddress: '127.0.0.91' })), 201)
  const bravo = ok(await s.call('POST', '/api/config/servers', validServer({ name: 'bravo', dnsAddress: '127.0.0.92' })), 201)
  const charlie = ok(await s.call('POST', '/api/config/servers', validServer({ name: 'charlie', dnsAddress: '127.0.0.93' })), 201)
  const core = ok(await s.call('POST', '/api/config/groups', { name: 'Core', serverIds: [alpha.id, bravo.id] }), 201)
  const edge = ok(await s.call('POST', '/api/config/groups', { name: 'Edge', serverIds: [charlie.id] }), 201)
  t.equal((await health()).checks.store.ok, true)

  const raw = rawClient(t, s.port)
  const source = esClient(t, s.url)
  const clients: Client[] = [raw, source]
  await waitFor(() => clients.every(client => client.messages.length >= 2), 10000, 'connected')

  const readDocument = async () => JSON.parse(await settledFileText(s.app, s.dataFile))
  const writeAtomically = async (text: string) => {
    // Not the store's own temp-name pattern, so its stale-temp cleanup leaves it alone.
    const temp = join(dirname(s.dataFile), `hand-edit-${randomBytes(4).toString('hex')}.tmp`)
    await writeFile(temp, text)
    await rename(temp, s.dataFile)
  }
  const writeInPlace = (text: string) => writeFile(s.dataFile, text)
  const json = (document: unknown) => JSON.stringify(document, null, 2) + '\n'
  let seen = 0
  async function nextEvents (count: number, what: string) {
    await waitFor(() => clients.every(client => configEvents(client).length >= seen + count), 15000, what)
    const events = configEvents(raw).slice(seen)
    t.same(idAndText(configEvents(source).slice(seen)), idAndText(events), `${what}: both clients got the same`)
    seen += count
    return events.map(message => message.data)
  }
  const server = async (id: string) => ok(await s.call('GET', `/api/config/servers/${id}`))
  const groups = async () => ok(await s.call('GET', '/api/config/groups'))

  // 1. Atomic (temp + rename): add a server, rename one, delete one, change a group.
  let document = await readDocument()
  document.servers.push({ id: 'hand-made', name: 'delta', ip: '10.9.9.9', dnsAddress: '127.0.0.94', snmp: { enabled: true, community: HAND_SECRET, disks: [] } })
  document.servers.find((entry: { id: string }) => entry.id === bravo.id).name = 'bravo (by hand)'
  document.servers = document.servers.filter((entry: { id: string }) => entry.id !== charlie.id)
  document.groups.find((entry: { id: string }) => entry.id === edge.id).serverIds = []
  document.groups.find((entry: { id: string }) => entry.id === core.id).serverIds.push('hand-made')
  await writeAtomically(json(document))
  const first = await nextEvents(4, 'the atomic edit')
  t.same(first, [
    { type: 'serverAdded', server: await server('hand-made') },
    { type: 'serverUpdated', server: await server(bravo.id) },
    { type: 'serverRemoved', serverId: charlie.id },
    { type: 'groupsChanged', groups: await groups() }
  ], 'serverAdded, serverUpdated, serverRemoved, groupsChanged')
  t.equal(first[1].server.name, 'bravo (by hand)')
  t.equal(first[0].server.snmp.community, '********', 'the hand-written secret is masked')

  // 2. In place (writeFile): rename another server, rename a group.
  document = await readDocument()
  document.servers.find((entry: { id: string }) => entry.id === alpha.id).name = 'alpha (by hand)'
  document.groups.find((entry: { id: string }) => entry.id === core.id).name = 'Core (by hand)'
  await writeInPlace(json(document))
  t.same(await nextEvents(2, 'the in-place edit'), [
    { type: 'serverUpdated', server: await server(alpha.id) },
    { type: 'groupsChanged', groups: await groups() }
  ], 'serverUpdated, groupsChanged')
  const lastGood = await readDocument()
  const serversBefore = (await s.call('GET', '/api/config/servers')).text
  const groupsBefore = (await s.call('GET', '/api/config/groups')).text
  const allOk = (answer: any) => Object.values(answer.checks).every(check => (check as { ok: boolean }).ok)
  const healthy = await health()
  t.equal(healthy.checks.store.ok, true, 'the store is healthy after valid edits')
  t.equal(healthy.status, allOk(healthy) ? 'ok' : 'degraded')

  // 3. Invalid: broken JSON (in place), then valid JSON with an invalid ip (atomic).
  await writeInPlace('{ "version": 1, "servers": [')
  let report = await waitFor(async () => { const answer = await health(); return answer.checks.store.ok === false && answer }, 15000, 'degraded health')
  t.equal(report.status, 'degraded')
  t.match(report.checks.store.error, /JSON/, 'the error names the problem')
  t.equal((await s.call('GET', '/api/config/servers')).text, serversBefore, 'GET serves the last good servers')
  t.equal((await s.call('GET', '/api/config/groups')).text, groupsBefore, 'and groups')

  const badIp = structuredClone(lastGood)
  badIp.servers[0].ip = '999.1.2.3'
  await writeAtomically(json(badIp))
  report = await waitFor(async () => { const answer = await health(); return answer.checks.store.ok === false && !/JSON/.test(answer.checks.store.error) && answer }, 15000, 'the second rejection')
  t.equal(report.status, 'degraded')
  t.match(report.checks.store.error, /ip/i, 'the error names the field')
  t.equal((await s.call('GET', '/api/config/servers')).text, serversBefore, 'GET still serves the last good servers')

  // 4. A later valid edit (in place): delete the hand-made server, which is in a group.
  const fixed = structuredClone(lastGood)
  fixed.servers = fixed.servers.filter((entry: { id: string }) => entry.id !== 'hand-made')
  for (const group of fixed.groups) group.serverIds = group.serverIds.filter((id: string) => id !== 'hand-made')
  await writeInPlace(json(fixed))
  // The two rejected edits published nothing: the next events are this edit's.
  t.same(await nextEvents(2, 'the valid edit'), [
    { type: 'serverRemoved', serverId: 'hand-made' },
    { type: 'groupsChanged', groups: await groups() }
  ], 'only the valid edit\'s events, none from the rejected ones')
  report = await waitFor(async () => { const answer = await health(); return answer.checks.store.ok === true && answer }, 15000, 'healthy again')
  t.equal(report.status, allOk(report) ? 'ok' : 'degraded', 'health ok again (unless a probe program is unavailable)')
  t.equal(report.checks.store.error, undefined)

  for (const client of clients) t.same(invalidMessages(client), [])
  t.notOk(raw.bytes.includes(HAND_SECRET), 'the hand-written secret never went out')
  t.same(raw.badLines, [])
})

t.test('/health recovers when a rejected hand edit is undone by hand, and when an API write replaces the broken file', async t => {
  const s = await startEvents(t, QUIET)
  const storeCheck = async () => (await s.call('GET', '/health')).json.checks.store as { ok: boolean, error?: string }
  const degraded = (what: string) => waitFor(async () => { const check = await storeCheck(); return check.ok ? null : check }, 15000, what)
  const recovers = (what: string) => waitFor(async () => (await storeCheck()).ok, 10000, what).then(() => true, () => false)
  t.equal((await s.call('POST', '/api/config/servers', validServer({ name: 'alpha', dnsAddress: '127.0.0.95' }))).status, 201)
  t.equal((await s.call('POST', '/api/config/groups', { name: 'Core', serverIds: ['server-001'] })).status, 201)
  t.equal((await storeCheck()).ok, true)
  const good = await settledFileText(s.app, s.dataFile)
  const serversBefore = (await s.call('GET', '/api/config/servers')).text
  const published: EstatusEvent[] = []
  t.teardown(s.bus.subscribe(event => { if (!MONITOR_TYPES.has(event.type)) published.push(event) }))
  const writeAtomically = async (text: string) => {
    const temp = join(dirname(s.dataFile), `hand-edit-${randomBytes(4).toString('hex')}.tmp`)
    await writeFile(temp, text)
    await rename(temp, s.dataFile)
  }

  // 1. Broken by hand, then the exact last good content put back by hand.
  await writeFile(s.dataFile, '{ "version": 1, "servers": [')
  t.match((await degraded('degraded after the broken edit')).error, /JSON/)
  await writeAtomically(good)
  t.ok(await recovers('healthy after the undo'), 'the last good content written back by hand: checks.store.ok is true again')
  t.equal((await storeCheck()).error, undefined, 'and no error is reported')
  t.equal(await settledFileText(s.app, s.dataFile), good, 'the file was left as put back')
  t.equal((await s.call('GET', '/api/config/servers')).text, serversBefore, 'the configuration is unchanged')
  t.same(published, [], 'the undo published nothing')

  // 2. Broken again, then replaced by the next API write.
  await writeFile(s.dataFile, '{ "servers": 42 ')
  await degraded('degraded after the second broken edit')
  const created = await s.call('POST', '/api/config/servers', validServer({ name: 'bravo', dnsAddress: '127.0.0.96' }))
  t.equal(created.status, 201)
  t.same(await storeCheck(), { ok: true }, 'healthy as soon as the write that replaced the broken file has answered')
  const written = JSON.parse(await settledFileText(s.app, s.dataFile))
  t.same(written.servers.map((server: { name: string }) => server.name), ['alpha', 'bravo'], 'the file is valid JSON again, with both servers')
  t.same(written.groups.map((group: { name: string }) => group.name), ['Core'])
  // The store looks at its own write once the watcher's debounce has passed: still healthy.
  await sleep(1000)
  t.same(await storeCheck(), { ok: true }, 'still healthy after the store has looked at the file again')
  t.same(published, [{ type: 'serverAdded', server: created.json.data }], 'only the API write published an event')
})
