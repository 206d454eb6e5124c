/**
 * A fake NetApp ONTAP filer for tests: HTTPS on 127.0.0.1 (random port; `host` / `port` options to choose) with a
 * self-signed certificate made at test time with `openssl`, serving
 *
 * - REST  `GET /api/storage/luns` — Basic auth; `fields` (dotted names, `*`, `**`),
 *   `max_records`, `name` filter (`a|b`, `*` wildcard), records ordered by uuid and paged
 *   with a `start.uuid` cursor in `_links.next.href` as ONTAP does; errors in ONTAP's
 *   format `{"error": {"message", "code", "target"?}}`.
 * - ZAPI  `POST /servlets/netapp.servlets.admin.XMLrequest_filer` — `lun-get-iter` with
 *   `max-records` (default 20, as ONTAP), `tag` / `next-tag` paging (the tag is an
 *   XML-escaped key document, as on a real filer), `desired-attributes`;
 *   `<results status="failed" errno="…" reason="…"/>` for API errors.
 *
 * Bad credentials get HTTP 401 on both (ONTAP's JSON error body on REST, the web
 * server's HTML page on ZAPI). `pageSize` caps every page (as `return_timeout` does on a
 * busy filer), `delayMs` slows every answer, `hang` accepts requests and never answers.
 * `openConnections` / `closedConnections` count TCP connections, to see a client let go.
 */
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { createHash } from 'node:crypto'
import { XMLBuilder, XMLParser } from 'fast-xml-parser'
import { selfSignedCertificate } from './certificate.ts'

export interface FakeLun {
  /** The LUN path, e.g. `/vol/vol1/lun1` (REST `name`, ZAPI `path`). */
  path: string
  /** Bytes. */
  size: number
  /** Bytes. */
  used: number
  /** SVM (vserver) name; default `svm1`. */
  svm?: string
}

export interface FakeOntapOptions {
  luns: FakeLun[]
  username: string
  password: string
  /** Most records in one page, whatever the client asks for. */
  pageSize: number
  /** Delay before every answer. */
  delayMs?: number
  /** Accept requests and never answer. */
  hang?: boolean
  /** Make every ZAPI `lun-get-iter` fail with this errno and reason. */
  zapiFailure?: { errno: string, reason: string }
  /** Broken filer: every REST page links to itself as `next`, every ZAPI page repeats its tag. */
  loopNext?: boolean
  /** Loopback address to listen on (default 127.0.0.1), e.g. 127.0.0.3 for a second filer on the same port. */
  host?: string
  /** Port to listen on (default a free one). */
  port?: number
  /** A careless filer: every answer is an error whose text echoes the Authorization header and the URL-encoded password. */
  echoCredentials?: boolean
}

export interface FakeOntap {
  port: number
  /** `https://<host>:<port>` */
  url: string
  /** Requests received so far. */
  readonly requests: number
  /** TCP connections open now. */
  readonly openConnections: number
  /** TCP connections closed so far (by either side). */
  readonly closedConnections: number
  /** Method and URL of every request received. */
  readonly log: Array<{ method: string, url: string, authorized: boolean }>
  /** Change behaviour (delayMs, hang, zapiFailure, loopNext, luns) while running. */
  set: (opts: Partial<FakeOntapOptions>) => void
  /** The PEM certificate the filer presents. */
  cert: string
  close: () => Promise<void>
}

// ---------------------------------------------------------------------------
// Model

interface LunRow {
  uuid: string
  path: string
  svm: string
  svmUuid: string
  size: number
  used: number
}

function uuidFrom (seed: string): string {
  const h = createHash('sha1').update(seed).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`
}

function rowsOf (luns: FakeLun[]): LunRow[] {
  return luns.map((l) => {
    const svm = l.svm ?? 'svm1'
    return { uuid: uuidFrom(`${svm}:${l.path}`), path: l.path, svm, svmUuid: uuidFrom(`svm:${svm}`), size: l.size, used: l.used }
  })
}

// ---------------------------------------------------------------------------
// REST

const REST_FIELDS = new Set([
  'uuid', 'name', 'svm', 'svm.name', 'svm.uuid', 'space', 'space.size', 'space.used', 'space.guarantee',
  'space.guarantee.requested', 'space.guarantee.reserved', 'status', 'status.state', 'status.container_state',
  'location', 'location.volume', 'location.volume.name', 'location.logical_unit', 'os_type', 'enabled', 'serial_number'
])
const REST_QUERY = new Set(['fields', 'max_records', 'return_records', 'return_timeout', 'start.uuid', 'name', 'svm.name', 'order_by'])

function restRecord (r: LunRow, fields: Set<string>): Record<string, unknown> {
  const all = fields.has('*') || fields.has('**')
  const want = (f: string): boolean => all || fields.has(f) || fields.has(f.split('.')[0]!)
  const rec: Record<string, unknown> = { uuid: r.uuid, name: r.path }
  if (want('svm.name') || want('svm.uuid')) {
    rec.svm = { uuid: r.svmUuid, name: r.svm, _links: { self: { href: `/api/svm/svms/${r.svmUuid}` } } }
  }
  if (want('location.volume.name') || want('location.logical_unit')) {
    const parts = r.path.split('/')
    rec.location = { logical_unit: parts[parts.length - 1], volume: { name: parts[2] } }
  }
  if (want('os_type')) rec.os_type = 'linux'
  if (want('enabled')) rec.enabled = true
  if (want('serial_number')) rec.serial_number = r.uuid.slice(0, 12)
  const space: Record<string, unknown> = {}
  if (want('space.size')) space.size = r.size
  if (want('space.used')) space.used = r.used
  if (want('space.guarantee.requested') || want('space.guarantee.reserved')) space.guarantee = { requested: false, reserved: false }
  if (Object.keys(space).length > 0) rec.space = space
  if (want('status.state') || want('status.container_state')) rec.status = { state: 'online', container_state: 'online' }
  rec._links = { self: { href: `/api/storage/luns/${r.uuid}` } }
  return rec
}

function matchesPattern (value: string, query: string): boolean {
  return query.split('|').some((pattern) => {
    if (!pattern.includes('*')) return value === pattern
    const parts = pattern.split('*')
    let pos = 0
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!
      if (i === 0) {
        if (!value.startsWith(part)) return false
        pos = part.length
      } else if (i === parts.length - 1) {
        return value.length - part.length >= pos && value.endsWith(part)
      } else {
        const at = value.indexOf(part, pos)
        if (at < 0) return false
        pos = at + part.length
      }
    }
    return true
  })
}

function restError (res: ServerResponse, status: number, message: string, code: string, target?: string): void {
  const error: Record<string, string> = { message, code }
  if (target !== undefined) error.target = target
  const body = JSON.stringify({ error }, null, 2)
  res.writeHead(status, { 'content-type': 'application/hal+json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function handleRest (req: IncomingMessage, res: ServerResponse, url: URL, opts: FakeOntapOptions, rows: LunRow[]): void {
  if (url.pathname !== '/api/storage/luns') {
    restError(res, 404, 'API not found', '3')
    return
  }
  if (req.method !== 'GET') {
    restError(res, 405, `The method "${String(req.method)}" is not allowed for this API.`, '4')
    return
  }
  for (const key of url.searchParams.keys()) {
    if (!REST_QUERY.has(key)) {
      restError(res, 400, `Unexpected argument "${key}".`, '262179', key)
      return
    }
  }
  const fields = new Set<string>()
  for (const f of (url.searchParams.get('fields') ?? '').split(',').map(s => s.trim()).filter(s => s !== '')) {
    if (f !== '*' && f !== '**' && !REST_FIELDS.has(f)) {
      restError(res, 400, `The value "${f}" is invalid for field "fields"`, '262197', 'fields')
      return
    }
    fields.add(f)
  }
  let maxRecords = Infinity
  const mr = url.searchParams.get('max_records')
  if (mr !== null) {
    maxRecords = Number(mr)
    if (!Number.isInteger(maxRecords) || maxRecords < 1) {
      restError(res, 400, `The value "${mr}" is invalid for field "max_records"`, '262197', 'max_records')
      return
    }
  }
  const pageLimit = Math.min(maxRecords, opts.pageSize)
  const nameQuery = url.searchParams.get('name')
  const svmQuery = url.searchParams.get('svm.name')
  const start = url.searchParams.get('start.uuid')
  const selected = rows
    .filter(r => (nameQuery === null || matchesPattern(r.path, nameQuery)) && (svmQuery === null || matchesPattern(r.svm, svmQuery)))
    .sort((a, b) => a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0)
  const from = start === null ? selected : selected.filter(r => r.uuid >= start)
  const page = from.slice(0, pageLimit)
  const rest = from.slice(pageLimit)

  const selfParams = new URLSearchParams(url.searchParams)
  const links: Record<string, unknown> = { self: { href: `/api/storage/luns?${selfParams.toString()}` } }
  if (opts.loopNext === true) {
    links.next = { href: `/api/storage/luns?${selfParams.toString()}` }
  } else if (rest.length > 0) {
    const nextParams = new URLSearchParams()
    nextParams.set('start.uuid', rest[0]!.uuid)
    for (const [k, v] of url.searchParams) if (k !== 'start.uuid') nextParams.append(k, v)
    links.next = { href: `/api/storage/luns?${nextParams.toString()}` }
  }
  const doc = { records: page.map(r => restRecord(r, fields)), num_records: page.length, _links: links }
  const body = JSON.stringify(doc, null, 2)
  const accept = req.headers.accept ?? ''
  res.writeHead(200, {
    'content-type': accept.includes('application/json') ? 'application/json' : 'application/hal+json',
    'content-length': Buffer.byteLength(body)
  })
  res.end(body)
}

// ---------------------------------------------------------------------------
// ZAPI

const ZAPI_PATH = '/servlets/netapp.servlets.admin.XMLrequest_filer'
const zapiParser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', parseTagValue: false })
const zapiBuilder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, suppressEmptyNode: true })
const LUN_INFO_ORDER = ['path', 'size', 'size-used', 'vserver', 'volume', 'qtree', 'lun', 'online', 'mapped', 'uuid', 'serial-number', 'multiprotocol-type', 'state'] as const

function zapiReply (res: ServerResponse, results: Record<string, unknown>): void {
  const body = "<?xml version='1.0' encoding='UTF-8' ?>\n<!DOCTYPE netapp SYSTEM 'file:/etc/netapp_gx.dtd'>\n" +
    (zapiBuilder.build({ netapp: { '@_version': '1.21', '@_xmlns': 'http://www.netapp.com/filer/admin', results } }) as string)
  res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function zapiFailed (res: ServerResponse, errno: string, reason: string): void {
  zapiReply(res, { '@_status': 'failed', '@_errno': errno, '@_reason': reason })
}

function lunInfo (r: LunRow, desired: Set<string> | undefined): Record<string, unknown> {
  const parts = r.path.split('/')
  const full: Record<string, unknown> = {
    path: r.path,
    size: String(r.size),
    'size-used': String(r.used),
    vserver: r.svm,
    volume: parts[2] ?? '',
    qtree: parts.length > 4 ? parts[3] : '',
    lun: parts[parts.length - 1],
    online: 'true',
    mapped: 'true',
    uuid: r.uuid,
    'serial-number': r.uuid.slice(0, 12),
    'multiprotocol-type': 'linux',
    state: 'online'
  }
  const out: Record<string, unknown> = {}
  for (const k of LUN_INFO_ORDER) if (desired === undefined || desired.has(k)) out[k] = full[k]
  return out
}

interface ZapiState { tags: Map<string, number>, tagSeq: number }

function handleZapi (req: IncomingMessage, res: ServerResponse, body: string, opts: FakeOntapOptions, rows: LunRow[], state: ZapiState): void {
  if (req.method !== 'POST') {
    res.writeHead(405, { 'content-type': 'text/html', allow: 'POST' })
    res.end('<html><body><h1>405 Method Not Allowed</h1></body></html>')
    return
  }
  let doc: Record<string, unknown>
  try {
    doc = zapiParser.parse(body, true) as Record<string, unknown>
  } catch (err) {
    zapiFailed(res, '13001', `Unable to parse XML request: ${(err as Error).message}`)
    return
  }
  const netapp = doc.netapp as Record<string, unknown> | undefined
  if (netapp === undefined || netapp === null || typeof netapp !== 'object') {
    zapiFailed(res, '13001', 'Invalid XML request: missing <netapp> element')
    return
  }
  const apis = Object.keys(netapp).filter(k => !k.startsWith('@_') && k !== '#text')
  if (apis.length !== 1) {
    zapiFailed(res, '13001', 'Invalid XML request: expected exactly one API')
    return
  }
  const api = apis[0]!
  if (api !== 'lun-get-iter') {
    zapiFailed(res, '13005', `Unable to find API: ${api}`)
    return
  }
  if (opts.zapiFailure !== undefined) {
    zapiFailed(res, opts.zapiFailure.errno, opts.zapiFailure.reason)
    return
  }
  const input = (typeof netapp[api] === 'object' && netapp[api] !== null ? netapp[api] : {}) as Record<string, unknown>
  let maxRecords = 20 // ONTAP's default for *-get-iter
  if (input['max-records'] !== undefined) {
    maxRecords = Number(input['max-records'])
    if (!Number.isInteger(maxRecords) || maxRecords < 1) {
      zapiFailed(res, '13115', `Invalid value specified for "max-records" element within "lun-get-iter": "${String(input['max-records'])}".`)
      return
    }
  }
  let offset = 0
  if (input.tag !== undefined && input.tag !== '') {
    const at = state.tags.get(String(input.tag))
    if (at === undefined) {
      zapiFailed(res, '13115', 'Invalid value specified for "tag" element within "lun-get-iter".')
      return
    }
    offset = at
  }
  let desired: Set<string> | undefined
  const da = input['desired-attributes'] as Record<string, unknown> | undefined
  if (da !== undefined && da !== null && typeof da === 'object' && da['lun-info'] !== undefined) {
    const li = da['lun-info']
    desired = new Set(li !== null && typeof li === 'object' ? Object.keys(li) : [])
  }
  const sorted = [...rows].sort((a, b) => a.svm !== b.svm ? (a.svm < b.svm ? -1 : 1) : (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const page = sorted.slice(offset, offset + Math.min(maxRecords, opts.pageSize))
  const nextOffset = offset + page.length
  const results: Record<string, unknown> = { '@_status': 'passed' }
  if (page.length > 0) results['attributes-list'] = { 'lun-info': page.map(r => lunInfo(r, desired)) }
  let nextTag: string | undefined
  if (opts.loopNext === true && input.tag !== undefined) {
    nextTag = String(input.tag)
  } else if (nextOffset < sorted.length || opts.loopNext === true) {
    const last = page[page.length - 1] ?? sorted[sorted.length - 1]
    // What a filer sends: an opaque key document, XML-escaped inside <next-tag>.
    nextTag = `<lun-get-iter-key-td><key-0>${last?.svm ?? ''}</key-0><key-1>${last?.path ?? ''}</key-1><key-2>${++state.tagSeq}</key-2></lun-get-iter-key-td>`
    state.tags.set(nextTag, nextOffset)
  }
  if (nextTag !== undefined) results['next-tag'] = nextTag
  results['num-records'] = String(page.length)
  zapiReply(res, results)
}

// ---------------------------------------------------------------------------

function authorized (req: IncomingMessage, opts: FakeOntapOptions): boolean {
  const h = req.headers.authorization
  if (typeof h !== 'string' || !h.startsWith('Basic ')) return false
  const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon >= 0 && decoded.slice(0, colon) === opts.username && decoded.slice(colon + 1) === opts.password
}

export async function startFakeOntap (options: FakeOntapOptions): Promise<FakeOntap> {
  const { key, cert } = await selfSignedCertificate()
  const opts: FakeOntapOptions = { ...options }
  let rows = rowsOf(opts.luns)
  let requests = 0
  const log: Array<{ method: string, url: string, authorized: boolean }> = []
  const zapiState: ZapiState = { tags: new Map(), tagSeq: 0 }
  const timers = new Set<NodeJS.Timeout>()

  const server: Server = createServer({ key, cert }, (req, res) => {
    requests++
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const ok = authorized(req, opts)
      log.push({ method: req.method ?? '', url: req.url ?? '', authorized: ok })
      if (opts.hang === true) return // never answer
      const answer = (): void => {
        const url = new URL(req.url ?? '/', 'https://127.0.0.1')
        const isZapi = url.pathname === ZAPI_PATH
        if (opts.echoCredentials === true) {
          const echoed = `request rejected: Authorization: ${req.headers.authorization ?? ''}; login=${encodeURIComponent(opts.username)}&password=${encodeURIComponent(opts.password)}; password ${opts.password}`
          if (isZapi) zapiFailed(res, '13003', echoed)
          else restError(res, 500, echoed, '1')
          return
        }
        if (!ok) {
          if (isZapi) {
            const body = '<html><head><title>401 Authorization Required</title></head><body><h1>Authorization Required</h1>' +
              '<p>This server could not verify that you are authorized to access the document requested.</p></body></html>'
            res.writeHead(401, { 'content-type': 'text/html', 'www-authenticate': 'Basic realm="Secure Area"', 'content-length': Buffer.byteLength(body) })
            res.end(body)
          } else {
            res.setHeader('www-authenticate', 'Basic realm="Secure Area"')
            restError(res, 401, 'User is not authorized.', '6')
          }
          return
        }
        if (isZapi) handleZapi(req, res, Buffer.concat(chunks).toString('utf8'), opts, rows, zapiState)
        else if (url.pathname.startsWith('/api/')) handleRest(req, res, url, opts, rows)
        else restError(res, 404, 'API not found', '3')
      }
      const delay = opts.delayMs ?? 0
      if (delay > 0) {
        const t = setTimeout(() => { timers.delete(t); if (!res.destroyed) answer() }, delay)
        timers.add(t)
      } else {
        answer()
      }
    })
  })
  server.on('clientError', (_err, socket) => { socket.destroy() })
  let openConnections = 0
  let closedConnections = 0
  server.on('connection', (socket: Socket) => {
    openConnections++
    socket.once('close', () => { openConnections--; closedConnections++ })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `https://${options.host ?? '127.0.0.1'}:${port}`,
    get requests () { return requests },
    get openConnections () { return openConnections },
    get closedConnections () { return closedConnections },
    log,
    cert,
    set (o: Partial<FakeOntapOptions>) {
      Object.assign(opts, o)
      if (o.luns !== undefined) rows = rowsOf(o.luns)
    },
    async close () {
      for (const t of timers) clearTimeout(t)
      timers.clear()
      const closed = new Promise<void>(resolve => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    }
  }
}
