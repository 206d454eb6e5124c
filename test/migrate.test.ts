// `npm run migrate -- --to <url>` (SPEC §12): a single node's files — configuration with its
// journal, history, alert log with a pending delivery, audit, tokens — copied into a cluster
// database, then served and continued by a cluster node.
import t from 'tap'
import { join } from 'node:path'
import { request } from 'undici'
import { startApp, tempDir, validServer } from './support/app.ts'
import { startPostgres } from './support/postgres.ts'
import { runScript } from './support/scripts.ts'
import { spawnServer } from './support/server-process.ts'
import { startHttpReceiver } from './support/alert-receivers.ts'
import { waitFor } from './support/wait.ts'
import { createSqliteStorage } from '../plugins/history/sqlite-storage.ts'
import { createSqliteOutbox } from '../plugins/alerts/sqlite-outbox.ts'
import { deliveryKey } from '../plugins/alerts/outbox.ts'
import { createTokenStore } from '../lib/access-tokens.ts'
import type { Alert } from '../schemas/alerts.ts'

t.test('a single node\'s files move into a cluster database and a cluster node carries on with them', async t => {
  const postgres = await startPostgres()
  t.teardown(() => postgres.stop())
  const url = await postgres.createDatabase('migrated')
  const dir = await tempDir(t)
  const dataFile = join(dir, 'estatus.json')
  const historyFile = join(dir, 'history.sqlite')
  const receiver = await startHttpReceiver(t)

  // The single node: configured through its API (which audits), then stopped.
  const single = await startApp(t, { monitor: false }, dir)
  const servers = []
  for (const name of ['web-1', 'web-2', 'db-1']) servers.push((await single.call('POST', '/api/config/servers', validServer({ name }))).json.data)
  const channel = (await single.call('POST', '/api/config/channels', { name: 'hook', type: 'webhook', url: `${receiver.url}/alerts` })).json.data
  await single.app.close()

  // What it recorded and had still to deliver, through its own storages.
  // An hour ago: within every retention (the new leader prunes at start).
  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 60 * 60_000
  const history = createSqliteStorage(historyFile)
  await history.record([{ serverId: servers[0].id, t: minute, probes: 60, replies: 57, rttMinUs: 100, rttSumUs: 57_000, rttMaxUs: 2000, onlineMs: 60_000, monitoredMs: 60_000 }], [])
  await history.close()
  const alert: Alert = {
    id: 'alert-pending',
    kind: 'down',
    rule: { id: 'rule-1', name: 'r' },
    server: { id: servers[2].id, name: 'db-1', ip: '10.1.2.3' },
    groups: [],
    at: new Date().toISOString(),
    since: new Date().toISOString(),
    message: 'db-1 (10.1.2.3) is down'
  }
  const outbox = createSqliteOutbox(historyFile)
  await outbox.add(alert, [{ channelId: channel.id, key: deliveryKey(alert.id, channel.id) }], Date.now())
  await outbox.close()
  const tokens = await createTokenStore({ file: join(dir, 'tokens.json') })
  const admin = await tokens.create({ name: 'ops', role: 'admin' })
  tokens.close()

  const migrated = await runScript('migrate', ['--to', url], { ESTATUS_DATA_FILE: dataFile })
  t.equal(migrated.code, 0, 'migrate succeeds')
  t.match(migrated.stdout, /configuration: 3 servers/)
  t.match(migrated.stdout, /history_minutes: 1 rows/)
  t.match(migrated.stdout, /alert_deliveries: 1 rows/)

  const again = await runScript('migrate', ['--to', url], { ESTATUS_DATA_FILE: dataFile })
  t.equal(again.code, 1, 'a second migration into the same database is refused')
  t.match(again.stderr, /holds a configuration already/)

  // A cluster node on the database (its own empty data folder: nothing comes from a file).
  const node = await spawnServer(t, { dataFile: join(dir, 'node', 'estatus.json'), env: { ESTATUS_DATABASE_URL: url } })
  const get = async (path: string) => {
    const answer = await request(node.url + path, { headers: { authorization: `Bearer ${admin.token}` } })
    return { status: answer.statusCode, body: await answer.body.json() as { data: any } }
  }
  t.same((await get('/api/config/servers')).body.data.map((server: { name: string }) => server.name), ['web-1', 'web-2', 'db-1'], 'the configuration')
  const range = `from=${new Date(minute - 60_000).toISOString()}&to=${new Date(minute + 120_000).toISOString()}`
  const points = (await get(`/api/servers/${servers[0].id}/history?${range}&step=1m`)).body.data.points
  t.same(points.filter((point: { probes: number }) => point.probes > 0).map((point: { t: string, probes: number, replies: number }) => [point.t, point.probes, point.replies]),
    [[new Date(minute).toISOString(), 60, 57]], 'the history')
  const audit = (await get('/api/audit')).body.data
  t.equal(audit.filter((entry: { kind: string }) => entry.kind === 'server').length, 3, 'the audit of the three creates')
  t.equal((await get('/api/audit')).status, 200, 'the admin token works on the cluster node')
  await waitFor(() => receiver.requests.length > 0, 20_000, 'the pending delivery')
  t.equal((receiver.requests[0]!.json as Alert).id, 'alert-pending', 'the delivery pending on the single node is made by the cluster\'s leader')
  // The receiver answers before the leader records the attempt.
  const state = await waitFor(async () => {
    const delivery = (await get('/api/alerts')).body.data[0].deliveries[0]
    return delivery.state === 'pending' ? null : delivery.state as string
  }, 10_000, 'the attempt recorded')
  t.equal(state, 'delivered', 'and logged as delivered')
})
