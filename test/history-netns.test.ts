import t from 'tap'
import { startApp, validServer } from './support/app.ts'
import { waitFor } from './support/wait.ts'
import { createTestHosts, netnsSkipReason } from './support/netns.ts'

t.test('incidents from a real host taken down and up', { skip: netnsSkipReason() }, async t => {
  const hosts = await createTestHosts(t)
  const api = await startApp(t, { pingIntervalMs: 200, threshold: 3, fpingPath: hosts.fpingWrapper })
  const { id } = (await api.call('POST', '/api/config/servers', validServer({ name: 'netns-host', dnsAddress: hosts.hostAddress }))).json.data
  const status = async () => (await api.call('GET', `/api/servers/${id}`)).json.data as { isOnline: boolean, lastStatusChange: string }
  const isOnline = async () => (await status()).isOnline
  const incidents = async () => (await api.call('GET', `/api/servers/${id}/incidents`)).json.data as Array<{ start: string, end: string | null, durationSeconds: number }>

  await waitFor(isOnline, 15000, 'online while the link is up')
  t.same(await incidents(), [], 'coming online first is no incident')
  await hosts.linkDown()
  await waitFor(async () => !(await isOnline()), 15000, 'offline after the link went down')
  const open = await incidents()
  t.equal(open.length, 1)
  t.equal(open[0]!.end, null, 'still down: no end')
  t.equal(open[0]!.start, (await status()).lastStatusChange, 'the incident starts at the flip to offline')

  await hosts.linkUp()
  await waitFor(isOnline, 15000, 'online again after the link came back')
  const [closed] = await incidents()
  t.equal(closed!.end, (await status()).lastStatusChange, 'and ends at the flip to online')
  t.equal(closed!.durationSeconds, (Date.parse(closed!.end!) - Date.parse(closed!.start)) / 1000)
  t.ok(closed!.durationSeconds > 0)

  const day = (await api.call('GET', `/api/servers/${id}/uptime`)).json.data.windows['24h']
  t.equal(day.incidents, 1)
  t.ok(day.uptime > 0 && day.uptime < 100, `uptime between 0 and 100 (${day.uptime})`)
  t.ok(day.downtimeSeconds >= closed!.durationSeconds - 0.001, 'the downtime covers the incident')
  const points = (await api.call('GET', `/api/servers/${id}/history?step=1m`)).json.data.points as Array<{ probes: number, replies: number }>
  const probes = points.reduce((sum, point) => sum + point.probes, 0)
  const replies = points.reduce((sum, point) => sum + point.replies, 0)
  t.ok(probes > replies && replies > 0, `probes ${probes} > replies ${replies} > 0`)
})
