import t from 'tap'
import { join } from 'node:path'
import { createTokenStore } from '../lib/access-tokens.ts'
import { startApp, tempDir, validServer } from './support/app.ts'
import { waitFor } from './support/wait.ts'
import { bearer } from './support/auth-support.ts'
import { runScript } from './support/scripts.ts'

// Each `npm run` starts node and tsx afresh: seconds apiece on a busy machine.
t.setTimeout(360000)

t.test('npm run token: create, list, revoke; a running server picks the changes up', async t => {
  const dir = await tempDir(t)
  const dataFile = join(dir, 'estatus.json')
  const env = { ESTATUS_DATA_FILE: dataFile }
  const api = await startApp(t, {}, dir)
  t.equal((await api.call('POST', '/api/config/servers', validServer())).status, 201, 'no token yet: the default mode is off')

  const created = await runScript('token', ['create', '--role', 'write', '--name', 'ci'], env)
  // A second token keeps the default mode at writes after 'ci' is revoked.
  const other = await createTokenStore({ file: join(dir, 'tokens.json') })
  await other.create({ name: 'dashboard', role: 'read' })
  other.close()
  t.equal(created.code, 0, created.stderr)
  const secret = /^(est_\S+)$/m.exec(created.stdout)?.[1]
  t.ok(secret, 'the secret is printed once')
  await waitFor(async () => (await api.call('POST', '/api/config/servers', validServer())).status === 401, 10000, 'the default mode becomes writes')
  t.equal((await api.call('GET', '/api/config/servers')).status, 200, 'reads stay open in writes')
  t.equal((await api.call('POST', '/api/config/servers', validServer(), bearer(secret!))).status, 201)

  const listed = await runScript('token', ['list'], env)
  t.match(listed.stdout, /tok-[0-9a-f]{8} {2}write {2}\S+ {2}ci/)
  t.notOk(listed.stdout.includes(secret!))

  const revoked = await runScript('token', ['revoke', 'ci'], env)
  t.equal(revoked.code, 0, revoked.stderr)
  await waitFor(async () => (await api.call('POST', '/api/config/servers', validServer(), bearer(secret!))).status === 401, 10000, 'the revoked token stops working')

  const invalid = await runScript('token', ['create', '--role', 'boss', '--name', 'x'], env)
  t.equal(invalid.code, 1)
  t.match(invalid.stderr, /role: must be one of/)
})
