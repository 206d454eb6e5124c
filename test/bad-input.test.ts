// Malformed requests against the real server: every one is refused with the status and
// message of SPEC §2, names what is wrong, and leaves the data file exactly as it was.
import t from 'tap'
import { startApp, validServer } from './support/app.ts'

const SERVERS = '/api/config/servers'
const GROUPS = '/api/config/groups'
const CHANNELS = '/api/config/channels'
const RULES = '/api/config/alert-rules'
const WINDOWS = '/api/config/maintenance'

interface Row {
  /** What the row sends, as the assertion message. */
  what: string
  method: 'POST' | 'PUT' | 'DELETE'
  path: string
  /** An object is sent as JSON; a string or Buffer is sent as it is (raw JSON text, non-JSON). */
  body?: unknown
  headers?: Record<string, string>
  status: 400 | 409 | 413 | 415
  /** Validation errors: field path keys that must be in `validationErrors` (and so in `error`). */
  fields?: string[]
  /** Other refusals: what `error` must say. */
  error?: RegExp
}

const rawJson = (text: string) => ({ body: text, headers: { 'content-type': 'application/json' } })
/** Every malformed-JSON answer says what and where, and quotes nothing of the body. */
const MALFORMED = /^Malformed JSON body: [^"]+ at line \d+, column \d+$/
const serverText = '"name":"x","ip":"10.0.0.1","dnsAddress":"127.0.0.2"'
const repeat = (n: number, char = 'a') => char.repeat(n)

// Ids of the seed: filled in before the rows run.
const seed = { server: 'server-001', withBlocks: 'server-002', group: 'group-1', other: 'group-2', channel: 'channel-1', rule: 'rule-1', window: 'maintenance-1' }

const snmpOk = { enabled: true, community: 'c', disks: [{ index: 31, name: 'root' }] }
const netappOk = { enabled: true, apiType: 'rest', username: 'admin', password: 'pw', luns: [{ name: 'l1', path: '/vol/v/l1' }] }
const webhook = (overrides: Record<string, unknown> = {}) => ({ name: 'hook', type: 'webhook', url: 'https://hooks.example.net/x', ...overrides })
const email = (overrides: Record<string, unknown> = {}) => ({ name: 'mail', type: 'email', host: 'smtp.example.net', from: 'estatus@example.net', to: ['ops@example.net'], ...overrides })
const rule = (overrides: Record<string, unknown> = {}) => ({ name: 'down', on: ['down'], channelIds: [seed.channel], ...overrides })
const window = (overrides: Record<string, unknown> = {}) => ({ name: 'night', start: '2025-01-07T22:00:00Z', end: '2025-01-08T00:00:00Z', ...overrides })
const ids = (n: number, prefix = 'x') => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

function rows (): Row[] {
  const s = (what: string, body: unknown, fields: string[], extra: Partial<Row> = {}): Row =>
    ({ what: `POST server: ${what}`, method: 'POST', path: SERVERS, body, status: 400, fields, ...extra })
  const u = (what: string, body: unknown, fields: string[], extra: Partial<Row> = {}): Row =>
    ({ what: `PUT server: ${what}`, method: 'PUT', path: `${SERVERS}/${seed.withBlocks}`, body, status: 400, fields, ...extra })
  const g = (what: string, body: unknown, fields: string[], extra: Partial<Row> = {}): Row =>
    ({ what: `POST group: ${what}`, method: 'POST', path: GROUPS, body, status: 400, fields, ...extra })
  const gu = (what: string, body: unknown, fields: string[], extra: Partial<Row> = {}): Row =>
    ({ what: `PUT group: ${what}`, method: 'PUT', path: `${GROUPS}/${seed.group}`, body, status: 400, fields, ...extra })
  const del = (what: string, query: string, fields: string[]): Row =>
    ({ what: `DELETE group: ${what}`, method: 'DELETE', path: `${GROUPS}/${seed.group}?${query}`, status: 400, fields })
  const c = (what: string, body: unknown, fields: string[], extra: Partial<Row> = {}): Row =>
    ({ what: `POST channel: ${what}`, method: 'POST', path: CHANNELS, body, status: 400, fields, ...extra })
  const r = (what: string, body: unknown, fields: string[]): Row =>
    ({ what: `POST alert rule: ${what}`, method: 'POST', path: RULES, body, status: 400, fields })
  const m = (what: string, body: unknown, fields: string[]): Row =>
    ({ what: `POST maintenance: ${what}`, method: 'POST', path: WINDOWS, body, status: 400, fields })

  return [
    // ---- servers: missing fields and wrong types
    s('empty object', {}, ['name', 'ip', 'dnsAddress']),
    s('missing name', { ip: '10.0.0.1', dnsAddress: '127.0.0.2' }, ['name']),
    s('missing ip', { name: 'x', dnsAddress: '127.0.0.2' }, ['ip']),
    s('missing dnsAddress (and no dns)', { name: 'x', ip: '10.0.0.1' }, ['dnsAddress']),
    s('name is a number', validServer({ name: 5 }), ['name']),
    s('ip is a number', validServer({ ip: 167772161 }), ['ip']),
    s('dnsAddress is null', validServer({ dnsAddress: null }), ['dnsAddress']),
    s('dns alias is an object', { name: 'x', ip: '10.0.0.1', dns: { host: 'a' } }, ['dnsAddress']),
    s('id is a number', validServer({ id: 7 }), ['id']),
    s('id with a slash', validServer({ id: 'a/b' }), ['id']),
    s('snmp is an array', validServer({ snmp: [] }), ['snmp']),
    s('snmp.enabled is a string', validServer({ snmp: { ...snmpOk, enabled: 'yes' } }), ['snmp.enabled']),
    s('netapp.enabled is a number', validServer({ netapp: { ...netappOk, enabled: 1 } }), ['netapp.enabled']),
    s('netapp.luns is an object', validServer({ netapp: { ...netappOk, luns: { name: 'l', path: '/l' } } }), ['netapp.luns']),
    s('snmpConfig.storageIndexes is a string', validServer({ snmpConfig: { enabled: true, storageIndexes: '31' } }), ['snmpConfig.storageIndexes']),
    s('snmpConfig.storageIndexes holds a string', validServer({ snmpConfig: { enabled: true, storageIndexes: ['31'] } }), ['snmp.disks.0.index']),
    // ---- servers: unknown fields, top-level and nested
    s('unknown top-level field', validServer({ isOnline: true }), ['isOnline']),
    s('unknown field in snmp', validServer({ snmp: { ...snmpOk, version: '2c' } }), ['snmp.version']),
    s('unknown field in snmpConfig', validServer({ snmpConfig: { enabled: true, storageIndexes: [1], port: 161 } }), ['snmp.port']),
    s('unknown field in netapp', validServer({ netapp: { ...netappOk, host: 'filer' } }), ['netapp.host']),
    s('unknown field in a disk', validServer({ snmp: { ...snmpOk, disks: [{ index: 1, size: 5 }] } }), ['snmp.disks.0.size']),
    s('unknown field in a LUN', validServer({ netapp: { ...netappOk, luns: [{ name: 'l', path: '/vol/l', size: 1 }] } }), ['netapp.luns.0.size']),
    // ---- servers: lengths, addresses
    s('name of 51 characters', validServer({ name: repeat(51) }), ['name']),
    s('name of only spaces', validServer({ name: '   ' }), ['name']),
    s('dnsAddress of 254 characters', validServer({ dnsAddress: repeat(254) }), ['dnsAddress']),
    s('dnsAddress starting with "-"', validServer({ dnsAddress: '-c1' }), ['dnsAddress']),
    s('dns alias starting with "-"', { name: 'x', ip: '10.0.0.1', dns: '--help' }, ['dnsAddress']),
    s('dnsAddress with a space', validServer({ dnsAddress: 'a b' }), ['dnsAddress']),
    // Junk, and the legacy numeric forms resolvers read as other addresses than they look.
    ...['%%%', '...', 'a..b', '.a', 'a_b.lan', 'a-.lan', `${repeat(64)}.lan`, '0177.0.0.1', '0x7f.1', '0x7f', '2130706433', '010.0.0.1', '127.1', 'host.123', '1.2.3.4.5', '::ffff:1.2.3', 'fe80::1::2']
      .map(dnsAddress => s(`dnsAddress ${JSON.stringify(dnsAddress)}`, validServer({ dnsAddress }), ['dnsAddress'])),
    s('ip 256.1.1.1', validServer({ ip: '256.1.1.1' }), ['ip']),
    s('ip 1.2.3', validServer({ ip: '1.2.3' }), ['ip']),
    s('ip 01.2.3.4 (leading zero)', validServer({ ip: '01.2.3.4' }), ['ip']),
    s('ip " "', validServer({ ip: ' ' }), ['ip']),
    s('ip 1.2.3.4.5', validServer({ ip: '1.2.3.4.5' }), ['ip']),
    s('ip as a hostname', validServer({ ip: 'localhost' }), ['ip']),
    // ---- servers: thresholds
    s('consecutiveSuccesses 0', validServer({ consecutiveSuccesses: 0 }), ['consecutiveSuccesses']),
    s('consecutiveFailures 11', validServer({ consecutiveFailures: 11 }), ['consecutiveFailures']),
    s('consecutiveSuccesses 1.5', validServer({ consecutiveSuccesses: 1.5 }), ['consecutiveSuccesses']),
    s('consecutiveFailures "3"', validServer({ consecutiveFailures: '3' }), ['consecutiveFailures']),
    // ---- servers: snmp and netapp rules
    s('17 snmp disks', validServer({ snmp: { enabled: true, disks: Array.from({ length: 17 }, (_, i) => ({ index: i })) } }), ['snmp.disks']),
    s('17 storageIndexes', validServer({ snmpConfig: { enabled: true, storageIndexes: Array.from({ length: 17 }, (_, i) => i) } }), ['snmp.disks']),
    s('disk index -1', validServer({ snmp: { enabled: true, disks: [{ index: -1 }] } }), ['snmp.disks.0.index']),
    s('disk index 1.5', validServer({ snmp: { enabled: true, disks: [{ index: 1.5 }] } }), ['snmp.disks.0.index']),
    s('the same disk index twice', validServer({ snmp: { enabled: true, disks: [{ index: 3 }, { index: 3 }] } }), ['snmp.disks']),
    s('disk name of 51 characters', validServer({ snmp: { enabled: true, disks: [{ index: 3, name: repeat(51) }] } }), ['snmp.disks.0.name']),
    s('netapp enabled without username, password, LUNs', validServer({ netapp: { enabled: true } }), ['netapp.username', 'netapp.password', 'netapp.luns']),
    s('netappConfig enabled without username', validServer({ netappConfig: { ...netappOk, username: '' } }), ['netapp.username']),
    s('netapp apiType soap', validServer({ netapp: { ...netappOk, apiType: 'soap' } }), ['netapp.apiType']),
    s('netapp verifyTls "no"', validServer({ netapp: { ...netappOk, verifyTls: 'no' } }), ['netapp.verifyTls']),
    s('LUN path without a leading "/"', validServer({ netapp: { ...netappOk, luns: [{ name: 'l', path: 'vol/l' }] } }), ['netapp.luns.0.path']),
    s('17 LUNs', validServer({ netapp: { ...netappOk, luns: Array.from({ length: 17 }, (_, i) => ({ name: `l${i}`, path: `/vol/l${i}` })) } }), ['netapp.luns']),
    // ---- servers: prototype keys (raw text: JSON.stringify would drop __proto__)
    s('__proto__ key', undefined, ['__proto__'], rawJson('{"name":"x","ip":"10.0.0.1","dnsAddress":"127.0.0.2","__proto__":{"isAdmin":true}}')),
    s('__proto__ key nested in snmp', undefined, ['snmp.__proto__'], rawJson('{"name":"x","ip":"10.0.0.1","dnsAddress":"127.0.0.2","snmp":{"enabled":true,"disks":[],"__proto__":{"x":1}}}')),
    s('__proto__ key written with a unicode escape', undefined, ['__proto__'], rawJson('{"name":"x","ip":"10.0.0.1","dnsAddress":"127.0.0.2","\\u005f_proto__":{"x":1}}')),
    s('constructor.prototype key', undefined, ['constructor.prototype'], rawJson('{"name":"x","ip":"10.0.0.1","dnsAddress":"127.0.0.2","constructor":{"prototype":{"x":1}}}')),
    s('constructor.prototype key nested in a disk', undefined, ['snmp.disks.0.constructor.prototype'], rawJson('{"name":"x","ip":"10.0.0.1","dnsAddress":"127.0.0.2","snmp":{"enabled":true,"disks":[{"index":1,"constructor":{"prototype":{}}}]}}')),
    // Unknown fields named like Object.prototype members are reported like any other.
    s('plain constructor key', undefined, ['constructor'], rawJson('{"name":"x","ip":"10.0.0.1","dnsAddress":"127.0.0.2","constructor":1}')),
    s('toString key', validServer({ toString: 'x' }), ['toString']),
    s('hasOwnProperty key in snmp', validServer({ snmp: { ...snmpOk, hasOwnProperty: 1 } }), ['snmp.hasOwnProperty']),
    // ---- servers: bodies that are not a JSON object
    s('a JSON array', [validServer()], ['body']),
    s('a JSON string', undefined, ['body'], rawJson('"server"')),
    s('JSON null', undefined, ['body'], rawJson('null')),
    { what: 'POST server: truncated JSON', method: 'POST', path: SERVERS, ...rawJson('{"name":"x",'), status: 400, error: MALFORMED },
    { what: 'POST server: JSON cut after a colon', method: 'POST', path: SERVERS, ...rawJson('{"name":'), status: 400, error: /^Malformed JSON body: the JSON text ends too early at line 1, column 9$/ },
    { what: 'POST server: not JSON at all', method: 'POST', path: SERVERS, ...rawJson('name=x&ip=1'), status: 400, error: /^Malformed JSON body: unexpected character at line 1, column 1$/ },
    { what: 'POST server: a bad unicode escape', method: 'POST', path: SERVERS, ...rawJson(`{${serverText},"x":"\\u12G4"}`), status: 400, error: /^Malformed JSON body: bad Unicode escape at line 1, column \d+$/ },
    { what: 'POST server: a stray token on line 3', method: 'POST', path: SERVERS, ...rawJson('{\n  "name": "x",\n  "ip": +1\n}'), status: 400, error: /^Malformed JSON body: unexpected character at line 3, column 9$/ },
    { what: 'POST server: a byte-order mark inside', method: 'POST', path: SERVERS, ...rawJson(`{${serverText},\ufeff"x":1}`), status: 400, error: /^Malformed JSON body: expected double-quoted property name at line 1, column 54$/ },
    { what: 'POST server: text after the object', method: 'POST', path: SERVERS, ...rawJson(`{${serverText}} x`), status: 400, error: MALFORMED },
    { what: 'POST server: NaN', method: 'POST', path: SERVERS, ...rawJson(`{${serverText},"consecutiveFailures":NaN}`), status: 400, error: MALFORMED },
    { what: 'POST server: a trailing comma', method: 'POST', path: SERVERS, ...rawJson(`{${serverText},}`), status: 400, error: MALFORMED },
    // ---- servers: shapes parsers disagree on, or that cost per item (issue 8)
    s('a key given twice', undefined, ['name'], rawJson(`{${serverText},"name":"y"}`)),
    s('a key given twice, once escaped', undefined, ['snmp.enabled'], rawJson(`{${serverText},"snmp":{"enabled":true,"\\u0065nabled":false,"disks":[]}}`)),
    s('65 fields', Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}`, i])), ['body']),
    s('an snmp block of 65 fields', validServer({ snmp: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}`, i])) }), ['snmp']),
    s('10,001 storageIndexes', validServer({ snmpConfig: { enabled: true, storageIndexes: Array.from({ length: 10001 }, (_, i) => i) } }), ['snmpConfig.storageIndexes']),
    s('5,000 invalid disks: the size alone is reported', validServer({ snmp: { enabled: true, disks: Array.from({ length: 5000 }, () => ({ size: 1 })) } }), ['snmp.disks']),
    { what: 'POST server: 10,000 levels of nesting', method: 'POST', path: SERVERS, ...rawJson(`{${serverText},"x":${'['.repeat(10000)}${']'.repeat(10000)}}`), status: 400, error: /^JSON body is nested too deeply: more than 32 levels of objects and arrays at line 1, column \d+$/ },
    { what: 'POST server: empty JSON body', method: 'POST', path: SERVERS, ...rawJson(''), status: 400, fields: ['body'] },
    // V8 quotes the text around a syntax error; a secret next to the mistake must not come back.
    { what: 'POST server: malformed JSON next to a password', method: 'POST', path: SERVERS, ...rawJson('{"name":"x","netapp":{"password":hunter2}}'), status: 400, error: MALFORMED },
    { what: 'POST server: truncated JSON ending in a secret', method: 'POST', path: SERVERS, ...rawJson('{"snmp":{"community":"s3cret'), status: 400, error: MALFORMED },
    { what: 'POST server: no body, no content type', method: 'POST', path: SERVERS, status: 400, fields: ['body'] },
    { what: 'POST server: text/plain', method: 'POST', path: SERVERS, body: JSON.stringify(validServer()), headers: { 'content-type': 'text/plain' }, status: 415, error: /Unsupported content type 'text\/plain'/ },
    { what: 'POST server: form-urlencoded', method: 'POST', path: SERVERS, body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, error: /Unsupported content type 'application\/x-www-form-urlencoded'/ },
    { what: 'POST server: 2 MiB body', method: 'POST', path: SERVERS, ...rawJson(JSON.stringify(validServer({ name: repeat(2 * 1048576) }))), status: 413, error: /too large.*1 MiB/ },
    // ---- servers: conflicts
    { what: 'POST server: an id that exists', method: 'POST', path: SERVERS, body: validServer({ id: seed.server }), status: 409, error: new RegExp(`'${seed.server}' already exists`) },
    // ---- server updates
    u('body id differs from the URL', validServer({ id: seed.server }), ['id']),
    u('missing every field', {}, ['name', 'ip', 'dnsAddress']),
    u('ip 256.1.1.1', validServer({ ip: '256.1.1.1' }), ['ip']),
    u('unknown field', validServer({ lastChecked: '2024-01-01T00:00:00Z' }), ['lastChecked']),
    u('netapp enabled with no LUNs (password kept from the store)', validServer({ netapp: { ...netappOk, password: '********', luns: [] } }), ['netapp.luns']),
    u('a JSON array', [], ['body']),
    // (A URL id over Fastify's maxParamLength of 100 gets Fastify's own 414, outside our envelope: not tested here.)
    { what: 'PUT server: id of 65 characters in URL and body', method: 'PUT', path: `${SERVERS}/${repeat(65)}`, body: validServer({ id: repeat(65) }), status: 400, fields: ['id'] },
    { what: 'PUT server: text/plain', method: 'PUT', path: `${SERVERS}/${seed.server}`, body: '{}', headers: { 'content-type': 'text/plain' }, status: 415, error: /Unsupported content type/ },
    // ---- groups
    g('missing name', { serverIds: [] }, ['name']),
    g('name is a number', { name: 5 }, ['name']),
    g('name of 51 characters', { name: repeat(51) }, ['name']),
    g('name "<script>"', { name: '<script>' }, ['name']),
    g('name with a backslash', { name: 'a\\b' }, ['name']),
    g('name with a semicolon', { name: 'a;b' }, ['name']),
    g('serverIds is a string', { name: 'n', serverIds: seed.server }, ['serverIds']),
    g('unknown serverIds', { name: 'n', serverIds: ['ghost-1', seed.server] }, ['serverIds']),
    g('duplicate serverIds', { name: 'n', serverIds: [seed.server, seed.server] }, ['serverIds']),
    g('order 0', { name: 'n', order: 0 }, ['order']),
    g('order 1001', { name: 'n', order: 1001 }, ['order']),
    g('order "2"', { name: 'n', order: '2' }, ['order']),
    g('rowNumber 101', { name: 'n', rowNumber: 101 }, ['rowNumber']),
    g('rowOrder 0', { name: 'n', rowOrder: 0 }, ['rowOrder']),
    g('legacy row 5', { name: 'n', row: 5 }, ['row']),
    g('legacy position "middle"', { name: 'n', position: 'middle' }, ['position']),
    g('unknown field', { name: 'n', color: 'red' }, ['color']),
    g('a JSON array', [{ name: 'n' }], ['body']),
    g('10,001 serverIds', { name: 'n', serverIds: Array.from({ length: 10001 }, (_, i) => `s${i}`) }, ['serverIds']),
    g('a constructor.prototype key in a LUN-like object', undefined, ['x.constructor.prototype'], rawJson('{"name":"n","x":{"constructor":{"prototype":{}}}}')),
    g('__proto__ key', undefined, ['__proto__'], rawJson('{"name":"n","__proto__":{"serverIds":["x"]}}')),
    { what: 'POST group: name differing only in case', method: 'POST', path: GROUPS, body: { name: 'WEB servers' }, status: 409, error: /'Web Servers' already exists/ },
    { what: 'POST group: same name with spaces around', method: 'POST', path: GROUPS, body: { name: '  web servers ' }, status: 409, error: /'Web Servers' already exists/ },
    { what: 'POST group: malformed JSON', method: 'POST', path: GROUPS, ...rawJson('{"name":'), status: 400, error: MALFORMED },
    { what: 'POST group: text/html', method: 'POST', path: GROUPS, body: '<b>x</b>', headers: { 'content-type': 'text/html' }, status: 415, error: /Unsupported content type 'text\/html'/ },
    gu('body id differs from the URL', { id: seed.other, name: 'n' }, ['id']),
    gu('unknown serverIds', { name: 'Web Servers', serverIds: ['nope'] }, ['serverIds']),
    gu('rowNumber 101', { name: 'Web Servers', rowNumber: 101 }, ['rowNumber']),
    { what: 'PUT group: renamed to another group\'s name in other case', method: 'PUT', path: `${GROUPS}/${seed.group}`, body: { name: 'DATABASES' }, status: 409, error: /'Databases' already exists/ },
    // ---- group deletes
    del('reassign=foo', 'reassign=foo', ['reassign']),
    del('reassign empty', 'reassign=', ['reassign']),
    del('reassign given twice', 'reassign=default&reassign=unassign', ['reassign']),
    // ---- channels: the variant `type` names, and only its errors
    c('no type', { name: 'x', url: 'https://a.example' }, ['type']),
    c('type "sms"', webhook({ type: 'sms' }), ['type']),
    c('type is a number', webhook({ type: 1 }), ['type']),
    c('empty object', {}, ['type']),
    c('a JSON array', [webhook()], ['body']),
    c('webhook without url', webhook({ url: undefined }), ['url']),
    c('webhook url ftp://', webhook({ url: 'ftp://files.example/x' }), ['url']),
    c('webhook url without a host', webhook({ url: 'https://' }), ['url']),
    c('webhook url of 2,049 characters', webhook({ url: `https://a.example/${repeat(2031)}` }), ['url']),
    c('webhook with an e-mail field', webhook({ host: 'smtp.example.net' }), ['host']),
    c('webhook secret of 257 characters', webhook({ secret: repeat(257) }), ['secret']),
    c('webhook header set by the sender', webhook({ headers: { 'Content-Type': 'text/plain' } }), ['headers.Content-Type']),
    c('webhook signature header', webhook({ headers: { 'x-estatus-signature': 'forged' } }), ['headers.x-estatus-signature']),
    c('webhook header given twice in other case', webhook({ headers: { 'X-Team': 'a', 'x-team': 'b' } }), ['headers.x-team']),
    c('webhook header name with a space', webhook({ headers: { 'X Team': 'a' } }), ['headers']),
    c('webhook header value with a line break', webhook({ headers: { 'X-Team': 'a\r\nX-Evil: 1' } }), ['headers.X-Team']),
    c('webhook header value a number', webhook({ headers: { 'X-Team': 1 } }), ['headers.X-Team']),
    ...['Keep-Alive', 'Upgrade', 'Expect', 'Connection', 'Transfer-Encoding', 'Host'].map(name =>
      c(`webhook header ${name}, which undici refuses`, webhook({ headers: { [name]: 'x' } }), [`headers.${name}`])),
    c('webhook header value with a control character', webhook({ headers: { 'X-Team': 'a\x01b' } }), ['headers.X-Team']),
    c('webhook header value beyond Latin-1', webhook({ headers: { 'X-Team': 'costs 5 €' } }), ['headers.X-Team']),
    c('webhook header value masked, nothing stored', webhook({ headers: { Authorization: '********' } }), ['headers.Authorization']),
    c('webhook secret of 7 characters', webhook({ secret: 'seven-7' }), ['secret']),
    c('slack url masked, nothing stored', { name: 's', type: 'slack', url: 'https://hooks.slack.com/********' }, ['url']),
    c('21 webhook headers', webhook({ headers: Object.fromEntries(ids(21, 'X-').map(name => [name, 'v'])) }), ['headers']),
    c('slack with a secret', { name: 's', type: 'slack', url: 'https://hooks.slack.com/x', secret: 's' }, ['secret']),
    c('teams without url', { name: 't', type: 'teams' }, ['url']),
    c('email without host, from, to', { name: 'mail', type: 'email' }, ['host', 'from', 'to']),
    c('email to []', email({ to: [] }), ['to']),
    c('email to of 51 addresses', email({ to: ids(51).map(name => `${name}@example.net`) }), ['to']),
    c('email to the same address twice', email({ to: ['a@example.net', 'a@example.net'] }), ['to']),
    c('email from without "@"', email({ from: 'estatus' }), ['from']),
    c('email to holding a number', email({ to: [5] }), ['to.0']),
    c('email port 0', email({ port: 0 }), ['port']),
    c('email port "25"', email({ port: '25' }), ['port']),
    c('email secure "yes"', email({ secure: 'yes' }), ['secure']),
    c('email host starting with "-"', email({ host: '-oProxyCommand=x' }), ['host']),
    c('email password of 257 characters', email({ password: repeat(257) }), ['password']),
    c('name of only spaces', webhook({ name: '   ' }), ['name']),
    c('name of 101 characters', webhook({ name: repeat(101) }), ['name']),
    c('id with a slash', webhook({ id: 'a/b' }), ['id']),
    c('id of 65 characters', webhook({ id: repeat(65) }), ['id']),
    c('unknown field', webhook({ color: 'red' }), ['color']),
    c('__proto__ key', undefined, ['__proto__'], rawJson('{"name":"x","type":"slack","url":"https://a.example","__proto__":{"x":1}}')),
    { what: 'POST channel: an id that exists', method: 'POST', path: CHANNELS, body: webhook({ id: seed.channel }), status: 409, error: new RegExp(`Channel with ID '${seed.channel}' already exists`) },
    { what: 'POST channel: malformed JSON next to a secret', method: 'POST', path: CHANNELS, ...rawJson('{"type":"webhook","secret":hunter2}'), status: 400, error: MALFORMED },
    { what: 'PUT channel: body id differs from the URL', method: 'PUT', path: `${CHANNELS}/${seed.channel}`, body: webhook({ id: 'channel-99' }), status: 400, fields: ['id'] },
    { what: 'PUT channel: type "pager"', method: 'PUT', path: `${CHANNELS}/${seed.channel}`, body: webhook({ type: 'pager' }), status: 400, fields: ['type'] },
    { what: 'PUT channel: stale If-Match', method: 'PUT', path: `${CHANNELS}/${seed.channel}`, body: webhook(), headers: { 'if-match': '"stale"' }, status: 409, error: /was changed by someone else/ },
    { what: 'DELETE channel: still used by an alert rule', method: 'DELETE', path: `${CHANNELS}/${seed.channel}`, status: 409, error: new RegExp(`used by the alert rules '${seed.rule}'`) },
    // ---- alert rules
    r('empty object', {}, ['name', 'on', 'channelIds']),
    r('on []', rule({ on: [] }), ['on']),
    r('on "sideways"', rule({ on: ['sideways'] }), ['on.0']),
    r('on "down" twice', rule({ on: ['down', 'down'] }), ['on']),
    r('on a string', rule({ on: 'down' }), ['on']),
    r('channelIds []', rule({ channelIds: [] }), ['channelIds']),
    r('an unknown channel', rule({ channelIds: [seed.channel, 'channel-404'] }), ['channelIds.1']),
    r('21 channelIds', rule({ channelIds: ids(21) }), ['channelIds']),
    r('an unknown server in scope', rule({ scope: { serverIds: ['ghost'], groupIds: [] } }), ['scope.serverIds.0']),
    r('an unknown group in scope', rule({ scope: { serverIds: [seed.server], groupIds: [seed.group, 'ghost'] } }), ['scope.groupIds.1']),
    r('10,001 scope serverIds', rule({ scope: { serverIds: ids(10001), groupIds: [] } }), ['scope.serverIds']),
    r('an unknown field in scope', rule({ scope: { serverIds: [], groupIds: [], hosts: [] } }), ['scope.hosts']),
    r('scope an array', rule({ scope: [] }), ['scope']),
    r('forSeconds 86,401', rule({ forSeconds: 86401 }), ['forSeconds']),
    r('forSeconds -1', rule({ forSeconds: -1 }), ['forSeconds']),
    r('forSeconds 1.5', rule({ forSeconds: 1.5 }), ['forSeconds']),
    r('diskPercent 101', rule({ on: ['disk'], diskPercent: 101 }), ['diskPercent']),
    r('diskPercent 0', rule({ on: ['disk'], diskPercent: 0 }), ['diskPercent']),
    r('diskDaysToFull 366', rule({ on: ['disk'], diskDaysToFull: 366 }), ['diskDaysToFull']),
    r('on "disk" with no threshold', rule({ on: ['disk'] }), ['diskPercent']),
    r('renotifyMinutes "10"', rule({ renotifyMinutes: '10' }), ['renotifyMinutes']),
    r('renotifyMinutes over a week', rule({ renotifyMinutes: 10081 }), ['renotifyMinutes']),
    r('enabled "yes"', rule({ enabled: 'yes' }), ['enabled']),
    r('unknown field', rule({ severity: 'high' }), ['severity']),
    { what: 'POST alert rule: an id that exists', method: 'POST', path: RULES, body: rule({ id: seed.rule }), status: 409, error: new RegExp(`Alert rule with ID '${seed.rule}' already exists`) },
    { what: 'PUT alert rule: body id differs from the URL', method: 'PUT', path: `${RULES}/${seed.rule}`, body: rule({ id: 'rule-99' }), status: 400, fields: ['id'] },
    { what: 'PUT alert rule: an unknown channel', method: 'PUT', path: `${RULES}/${seed.rule}`, body: rule({ channelIds: ['channel-404'] }), status: 400, fields: ['channelIds.0'] },
    { what: 'DELETE alert rule: stale If-Match', method: 'DELETE', path: `${RULES}/${seed.rule}`, headers: { 'if-match': '"stale"' }, status: 409, error: /was changed by someone else/ },
    // ---- maintenance windows
    m('empty object', {}, ['name', 'start', 'end']),
    m('start "tomorrow"', window({ start: 'tomorrow' }), ['start']),
    m('start without a time zone', window({ start: '2025-01-07T22:00:00' }), ['start']),
    m('start on February 30th', window({ start: '2025-02-30T22:00:00Z' }), ['start']),
    m('end a number', window({ end: 1736380800000 }), ['end']),
    m('end before start', window({ end: '2025-01-07T21:00:00Z' }), ['end']),
    m('end equal to start', window({ end: '2025-01-07T22:00:00Z' }), ['end']),
    m('a daily window of 24 hours', window({ end: '2025-01-08T22:00:00Z', repeat: { every: 'day' } }), ['end']),
    m('a weekly window of 8 days', window({ end: '2025-01-15T22:00:00Z', repeat: { every: 'week' } }), ['end']),
    m('repeat every "month"', window({ repeat: { every: 'month' } }), ['repeat.every']),
    m('repeat without every', window({ repeat: {} }), ['repeat.every']),
    m('start a leap second', window({ start: '2025-06-30T23:59:60Z' }), ['start']),
    m('end a leap second', window({ end: '2025-06-30T23:59:60Z' }), ['end']),
    m('until a leap second', window({ repeat: { every: 'day', until: '2025-06-30T23:59:60Z' } }), ['repeat.until']),
    m('until before start', window({ repeat: { every: 'day', until: '2025-01-01T00:00:00Z' } }), ['repeat.until']),
    m('an unknown field in repeat', window({ repeat: { every: 'day', count: 3 } }), ['repeat.count']),
    m('an unknown server in scope', window({ scope: { serverIds: ['ghost'], groupIds: [] } }), ['scope.serverIds.0']),
    m('unknown field', window({ reason: 'patching' }), ['reason']),
    { what: 'PUT maintenance: body id differs from the URL', method: 'PUT', path: `${WINDOWS}/${seed.window}`, body: window({ id: 'maintenance-99' }), status: 400, fields: ['id'] },
    { what: 'PUT maintenance: end before start', method: 'PUT', path: `${WINDOWS}/${seed.window}`, body: window({ end: '2020-01-01T00:00:00Z' }), status: 400, fields: ['end'] },
    { what: 'POST maintenance: text/plain', method: 'POST', path: WINDOWS, body: JSON.stringify(window()), headers: { 'content-type': 'text/plain' }, status: 415, error: /Unsupported content type/ }
  ]
}

async function seedStore (api: Awaited<ReturnType<typeof startApp>>) {
  const one = await api.call('POST', SERVERS, validServer({ name: 'seed-1' }))
  const two = await api.call('POST', SERVERS, validServer({ name: 'seed-2', ip: '10.1.2.4', snmp: snmpOk, netapp: netappOk }))
  const web = await api.call('POST', GROUPS, { name: 'Web Servers', serverIds: [one.json.data.id] })
  const db = await api.call('POST', GROUPS, { name: 'Databases', serverIds: [two.json.data.id], row: 2, position: 'right' })
  const channel = await api.call('POST', CHANNELS, webhook({ secret: 'seed-secret' }))
  const alertRule = await api.call('POST', RULES, rule({ channelIds: [channel.json.data.id], scope: { serverIds: [one.json.data.id], groupIds: [] } }))
  const maintenance = await api.call('POST', WINDOWS, window())
  for (const answer of [one, two, web, db, channel, alertRule, maintenance]) if (answer.status !== 201) throw new Error(`seeding failed: ${answer.text}`)
  Object.assign(seed, {
    server: one.json.data.id,
    withBlocks: two.json.data.id,
    group: web.json.data.id,
    other: db.json.data.id,
    channel: channel.json.data.id,
    rule: alertRule.json.data.id,
    window: maintenance.json.data.id
  })
}

t.test('malformed requests are refused, say what is wrong, and change nothing', async t => {
  const api = await startApp(t)
  await seedStore(api)
  const table = rows()
  t.ok(table.length >= 60, `${table.length} rows`)
  const before = async () => Promise.all([SERVERS, GROUPS, CHANNELS, RULES, WINDOWS].map(async path => (await api.call('GET', path)).json))
  const listsBefore = await before()
  const fileBefore = await api.fileText()

  for (const row of table) {
    const answer = await api.call(row.method, row.path, row.body, row.headers)
    const label = `${row.what} (${answer.text.slice(0, 300)})`
    t.equal(answer.status, row.status, `${row.what}: status ${row.status}`)
    t.equal(answer.json?.success, false, `${row.what}: success false`)
    const error: unknown = answer.json?.error
    t.type(error, 'string', `${row.what}: error is a string`)
    if (typeof error !== 'string') continue
    t.notMatch(error, /\n\s+at /, `${row.what}: no stack trace`)
    if (row.fields) {
      const { validationErrors, data } = answer.json
      t.ok(validationErrors && typeof validationErrors === 'object', `${row.what}: validationErrors present`)
      t.same(data, validationErrors, `${row.what}: data repeats validationErrors`)
      for (const field of row.fields) {
        t.ok(validationErrors && Object.hasOwn(validationErrors, field), `${row.what}: validationErrors names ${field} — ${label}`)
        t.ok(error.startsWith('Validation failed: ') && error.includes(`${field}: `), `${row.what}: error names ${field} — ${label}`)
      }
    } else {
      t.match(error, row.error ?? /./, `${row.what}: error says what is wrong — ${label}`)
      t.notOk(answer.json && 'validationErrors' in answer.json, `${row.what}: no validationErrors`)
    }
  }

  t.same(await api.fileText(), fileBefore, 'the data file is byte-for-byte unchanged')
  t.same(await before(), listsBefore, 'servers, groups, channels, alert rules and maintenance windows unchanged')
  const health = await api.call('GET', '/health')
  t.match(health.json, { status: 'ok', serverCount: 2 })
  // And a good request still goes through after all that.
  const good = await api.call('POST', SERVERS, validServer({ name: 'after' }))
  t.equal(good.status, 201, good.text)
  t.equal(good.json.data.id, 'server-003', 'no refused create consumed an id')
})
