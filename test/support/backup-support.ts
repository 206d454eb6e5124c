import { startApp, tempDir, validServer, type Running } from './app.ts'
import { bearer, seedTokens } from './auth-support.ts'

export const secretServer = (name: string) => validServer({
  name,
  snmp: { enabled: true, community: `community-of-${name}`, disks: [{ index: 1, name: 'C:' }] },
  netapp: { enabled: true, apiType: 'rest', username: 'admin', password: `password-of-${name}`, luns: [{ name: 'l', path: '/vol/v/l' }] }
})

/** An app (auth on: a token exists) with servers, groups and secrets in it. */
export async function populated (t: Parameters<typeof startApp>[0]): Promise<{ api: Running, admin: Record<string, string> }> {
  const dir = await tempDir(t)
  const secrets = await seedTokens(dir)
  const api = await startApp(t, { pingIntervalMs: 3600000, diskIntervalMs: 3600000 }, dir)
  const admin = bearer(secrets.admin!)
  const ids: string[] = []
  for (const name of ['alpha', 'beta', 'gamma']) ids.push((await api.call('POST', '/api/config/servers', secretServer(name), admin)).json.data.id)
  await api.call('POST', '/api/config/groups', { name: 'First', serverIds: [ids[0], ids[2]], rowNumber: 2 }, admin)
  await api.call('POST', '/api/config/groups', { name: 'Second', serverIds: [ids[1]] }, admin)
  return { api, admin }
}
