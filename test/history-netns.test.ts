import t from 'tap'
import { startApp, validServer, waitFor } from './helpers.ts'
import { connectEvents } from './sse-client.ts'
import { createTestHosts, netnsSkipReason } from './netns.ts'

t.test('incidents from a real host taken down and up', { skip: netnsSkipReason() }, async t => {
  const hosts = await createTestHosts(t)
  // fping runs inside the prober's namespace, where the test host is reachable.
  const api = await startApp(t, { pingIntervalMs: 200, threshold: 3, fpingPath: hosts.fpingWrapper })
  const events = await connectEvents(api.url)
  t.teardown(() => events.close())
  const server = (await api.call('POST', '/api/config/servers', validServer({ name: 'netns-host', dnsAddress: hosts.hostAddress }))).json.data
  const isOnline = async () => (await api.call('GET', `/api/servers/${server.id}`)).json.data.isOnline as boolean
  const incidents = async () => (await api.call('GET', `/api/servers/${server.id}/incidents`)).json.data as Array<{ start: string, end: string | null, durationSeconds: number }>
  const flips = () => events.messages
    .filter((message): message is typeof message & { update: { serverId: string, isOnline: boolean, timestamp: string } } => message.type === 'statusChange')
    .filter(message => message.update.serverId === server.id)

  await waitFor(isOnline, 15000, 'online while the link is up')
  t.same(await incidents(), [], 'coming online first is no incident')
  await hosts.linkDown()
  await waitFor(async () => !(await isOnline()), 15000, 'offline after the link went down')
  const open = await incidents()
  t.equal(open.length, 1)
  t.equal(open[0]!.end, null, 'still down: no end')
  t.equal(open[0]!.start, flips()[1]!.update.timestamp, 'the incident starts at the statusChange to offline')

  await hosts.linkUp()
  await waitFor(isOnline, 15000, 'online again after the link came back')
  const [closed] = await incidents()
  t.equal(closed!.end, flips()[2]!.update.timestamp, 'and ends at the statusChange to online')
  t.equal(closed!.durationSeconds, (Date.parse(closed!.end!) - Date.parse(closed!.start)) / 1000)
  t.ok(closed!.durationSeconds > 0)

  const day = (await api.call('GET', `/api/servers/${server.id}/uptime`)).json.data.windows['24h']
  t.equal(day.incidents, 1)
  t.ok(day.uptime > 0 && day.uptime < 100, `uptime between 0 and 100 (${day.uptime})`)
  t.ok(day.downtimeSeconds >= closed!.durationSeconds - 0.001, 'the downtime covers the incident')
  const points = (await api.call('GET', `/api/servers/${server.id}/history?step=1m`)).json.data.points as Array<{ probes: number, replies: number }>
  const probes = points.reduce((sum, point) => sum + point.probes, 0)
  const replies = points.reduce((sum, point) => sum + point.replies, 0)
  t.ok(probes > replies && replies > 0, `probes ${probes} > replies ${replies} > 0`)
})
