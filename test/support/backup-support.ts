import { startApp, tempDir, validServer, type Running } from './app.ts'
import { bearer, seedTokens } from './auth-support.ts'

export const secretServer = (name: string) => validServer({
  name,
  snmp: { enabled: true, community: `community-of-${name}`, disks: [{ index: 1, name: 'C:' }] },
  netapp: { enabled: true, apiType: 'rest', username: 'admin', password: `password-of-${name}`, luns: [{ name: 'l', path: '/vol/v/l' }] }
})

/** An app (auth on: a token exists) with servers, groups, alert configuration and secrets in it. */
export async function populated (t: Parameters<typeof startApp>[0]): Promise<{ api: Running, admin: Record<string, string> }> {
  const dir = await tempDir(t)
  const secrets = await seedTokens(dir)
  const api = await startApp(t, { pingIntervalMs: 3600000, diskIntervalMs: 3600000 }, dir)
  const admin = bearer(secrets.admin!)
  const ids: string[] = []
  for (const name of ['alpha', 'beta', 'gamma']) ids.push((await api.call('POST', '/api/config/servers', secretServer(name), admin)).json.data.id)
  await api.call('POST', '/api/config/groups', { name: 'First', serverIds: [ids[0], ids[2]], rowNumber: 2 }, admin)
  await api.call('POST', '/api/config/groups', { name: 'Second', serverIds: [ids[1]] }, admin)
  const hook = await api.call('POST', '/api/config/channels', { name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/hook', secret: 'secret-of-hook' }, admin)
  const mail = await api.call('POST', '/api/config/channels', { name: 'mail', type: 'email', host: '127.0.0.1', from: 'estatus@example.net', to: ['ops@example.net'], username: 'u', password: 'password-of-mail' }, admin)
  const rule = await api.call('POST', '/api/config/alert-rules', { name: 'down', on: ['down', 'up'], scope: { serverIds: [ids[0]], groupIds: [] }, channelIds: [hook.json.data.id, mail.json.data.id] }, admin)
  const window = await api.call('POST', '/api/config/maintenance', { name: 'patch night', scope: { serverIds: [ids[1]], groupIds: [] }, start: '2025-01-07T22:00:00Z', end: '2025-01-08T00:00:00Z', repeat: { every: 'week' } }, admin)
  for (const answer of [hook, mail, rule, window]) if (answer.status !== 201) throw new Error(`populating failed: ${answer.text}`)
  return { api, admin }
}
