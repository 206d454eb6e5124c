import t from 'tap'
import { join } from 'node:path'
import { createTokenStore } from '../lib/access-tokens.ts'
import type { AuthMode } from '../schemas/auth.ts'
import { startApp, tempDir, validServer } from './support/app.ts'
import { ROLES, bearer, seedTokens, statusOf, type Role } from './support/auth-support.ts'

// ---- the table: route × mode × role → status ------------------------------------------

interface Row { method: string, path: (ids: Fixture) => string, body?: (ids: Fixture) => unknown, access: 'public' | 'read' | 'write' | 'admin' | 'admin-unless-off', ok: number }
interface Fixture { server: string, group: string, token: string, document: unknown, channel: string, rule: string, window: string }

const hook = () => ({ name: `c-${Math.random().toString(36).slice(2, 8)}`, type: 'webhook', url: 'http://127.0.0.1:9/refused' })
const alertRule = (channel: string) => ({ name: 'r', on: ['down'], channelIds: [channel] })
const patchNight = () => ({ name: 'w', start: '2025-01-07T22:00:00Z', end: '2025-01-08T00:00:00Z' })
/** The CRUD rows of one list of the alert configuration (SPEC §10): reads as any read, writes as any write. */
const crud = (path: string, id: (ids: Fixture) => string, body: (ids: Fixture) => unknown): Row[] => [
  { method: 'GET', path: () => path, access: 'read', ok: 200 },
  { method: 'GET', path: ids => `${path}/${id(ids)}`, access: 'read', ok: 200 },
  { method: 'POST', path: () => path, body, access: 'write', ok: 201 },
  { method: 'PUT', path: ids => `${path}/${id(ids)}`, body, access: 'write', ok: 200 },
  { method: 'DELETE', path: ids => `${path}/${id(ids)}`, access: 'write', ok: 200 }
]

const ROUTES: Row[] = [
  { method: 'GET', path: () => '/health', access: 'public', ok: 200 },
  { method: 'GET', path: () => '/metrics', access: 'read', ok: 200 },
  { method: 'GET', path: () => '/api/openapi.json', access: 'read', ok: 200 },
  { method: 'GET', path: () => '/docs', access: 'read', ok: 200 },
  { method: 'GET', path: () => '/api/events', access: 'read', ok: 200 },
  { method: 'GET', path: () => '/api/servers', access: 'read', ok: 200 },
  { method: 'GET', path: () => '/api/servers/stats/summary', access: 'read', ok: 200 },
  { method: 'GET', path: ids => `/api/servers/${ids.server}`, access: 'read', ok: 200 },
  { method: 'GET', path: () => '/api/config/servers', access: 'read', ok: 200 },
  { method: 'GET', path: ids => `/api/config/servers/${ids.server}`, access: 'read', ok: 200 },
  { method: 'POST', path: () => '/api/config/servers', body: () => validServer({ name: 'new' }), access: 'write', ok: 201 },
  { method: 'PUT', path: ids => `/api/config/servers/${ids.server}`, body: () => validServer({ name: 'renamed' }), access: 'write', ok: 200 },
  { method: 'DELETE', path: ids => `/api/config/servers/${ids.server}`, access: 'write', ok: 200 },
  { method: 'GET', path: () => '/api/config/groups', access: 'read', ok: 200 },
  { method: 'GET', path: ids => `/api/config/groups/${ids.group}`, access: 'read', ok: 200 },
  { method: 'POST', path: () => '/api/config/groups', body: () => ({ name: `g-${Math.random().toString(36).slice(2, 8)}`, serverIds: [] }), access: 'write', ok: 201 },
  { method: 'PUT', path: ids => `/api/config/groups/${ids.group}`, body: ids => ({ name: `r-${ids.group}`, serverIds: [] }), access: 'write', ok: 200 },
  { method: 'DELETE', path: ids => `/api/config/groups/${ids.group}`, access: 'write', ok: 200 },
  { method: 'GET', path: () => '/api/config/export', access: 'admin', ok: 200 },
  { method: 'POST', path: () => '/api/config/import', body: ids => ids.document, access: 'admin', ok: 200 },
  { method: 'GET', path: () => '/api/auth/tokens', access: 'admin', ok: 200 },
  { method: 'POST', path: () => '/api/auth/tokens', body: () => ({ name: `t-${Math.random().toString(36).slice(2, 8)}`, role: 'read' }), access: 'admin', ok: 201 },
  { method: 'DELETE', path: ids => `/api/auth/tokens/${ids.token}`, access: 'admin', ok: 200 },
  { method: 'GET', path: () => '/api/audit', access: 'admin-unless-off', ok: 200 },
  ...crud('/api/config/channels', ids => ids.channel, hook),
  ...crud('/api/config/alert-rules', ids => ids.rule, ids => alertRule(ids.channel)),
  ...crud('/api/config/maintenance', ids => ids.window, patchNight),
  { method: 'GET', path: () => '/api/alerts', access: 'read', ok: 200 },
  // Answered with the outcome (here: connection refused), 200 either way.
  { method: 'POST', path: ids => `/api/config/channels/${ids.channel}/test`, access: 'write', ok: 200 }
]

/** SPEC §11, written out: what each role gets on a route of each kind in each mode. */
function expected (row: Row, mode: AuthMode, role: Role): number {
  const granted = (needed: 'read' | 'write' | 'admin') => {
    if (role === 'none' || role === 'bogus') return 401
    const rank = { read: 1, write: 2, admin: 3 }
    return rank[role] >= rank[needed] ? row.ok : 403
  }
  if (row.access === 'public') return row.ok
  if (row.access === 'admin') return granted('admin')
  if (mode === 'off') return row.ok
  if (row.access === 'admin-unless-off') return granted('admin')
  if (mode === 'writes') return row.access === 'write' ? granted('write') : row.ok
  return granted(row.access)
}

for (const mode of ['off', 'writes', 'all'] as const) {
  t.test(`route × role table in mode ${mode}`, async t => {
    const dir = await tempDir(t)
    const secrets = await seedTokens(dir)
    const api = await startApp(t, { auth: mode, authMaxFailures: 10000 }, dir)
    const store = api.app.estatus.store
    const tokens = await createTokenStore({ file: join(dir, 'tokens.json') })
    t.teardown(() => tokens.close())
    for (const row of ROUTES) {
      for (const role of ROLES) {
        // Fresh items for each request, so a delete or rename never changes the next row.
        const server = (await store.createServer(validServer({ name: `s-${role}` }))).value.id
        const group = (await store.createGroup({ name: `grp-${row.method}-${role}-${Math.random().toString(36).slice(2, 8)}`, serverIds: [server] })).value.id
        const token = (await tokens.create({ name: `victim-${Math.random().toString(36).slice(2, 10)}`, role: 'read' })).id
        const channels = store.collection('channels')
        const channel = (await channels.create(hook())).value.id
        const rule = (await store.collection('alertRules').create(alertRule((await channels.create(hook())).value.id))).value.id
        const window = (await store.collection('maintenance').create(patchNight())).value.id
        const ids = { server, group, token, channel, rule, window, document: store.document() }
        const secret = secrets[role]
        const headers = secret === undefined ? {} : bearer(secret)
        const path = row.path(ids)
        const status = row.path(ids) === '/api/events'
          ? (await statusOf(api.url, path, headers)).status
          : (await api.call(row.method, path, row.body?.(ids), headers)).status
        t.equal(status, expected(row, mode, role), `${mode} ${role.padEnd(5)} ${row.method} ${path}`)
      }
    }
  })
}
