import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import { createTokenStore } from '../../lib/access-tokens.ts'

export type Role = 'none' | 'bogus' | 'read' | 'write' | 'admin'
export const ROLES: Role[] = ['none', 'bogus', 'read', 'write', 'admin']
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Tokens of every role, written to the tokens file before the app starts. */
export async function seedTokens (dir: string) {
  const store = await createTokenStore({ file: join(dir, 'tokens.json') })
  const secrets: Record<Role, string | undefined> = { none: undefined, bogus: 'est_not-a-real-token', read: '', write: '', admin: '' }
  for (const role of ['read', 'write', 'admin'] as const) secrets[role] = (await store.create({ name: `${role}-token`, role })).token
  store.close()
  return secrets
}

/** The status of a request whose answer may be an endless event stream. */
export function statusOf (url: string, path: string, headers: Record<string, string> = {}, localAddress?: string): Promise<{ status: number, headers: Record<string, unknown>, body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url + path, { headers, localAddress }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
        if (res.headers['content-type']?.startsWith('text/event-stream') && body.includes('\n\n')) {
          resolve({ status: res.statusCode!, headers: res.headers, body })
          req.destroy()
        }
      })
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}
