import t from 'tap'
import parsePrometheusTextFormat, { type Family } from 'parse-prometheus-text-format'
import { startApp, validServer, type Running } from './support/app.ts'
import { waitFor } from './support/wait.ts'
import { connectEvents } from './support/sse.ts'
import { createTestHosts, netnsSkipReason } from './support/netns.ts'
import { startFakeOntap } from './support/fake-ontap.ts'

const GiB = 1024 ** 3
const MiB = 1024 ** 2

async function scrapeText (api: Running): Promise<string> {
  const answer = await api.call('GET', '/metrics')
  if (answer.status !== 200) throw new Error(`GET /metrics answered ${answer.status}`)
  return answer.text
}

async function scrape (api: Running): Promise<Map<string, Family>> {
  return new Map(parsePrometheusTextFormat(await scrapeText(api)).map(family => [family.name, family]))
}

/** The value of the one sample with these labels (undefined when there is none). */
function sample (families: Map<string, Family>, name: string, labels: Record<string, string>): number | undefined {
  const found = families.get(name)?.metrics.filter(metric => Object.entries(labels).every(([key, value]) => metric.labels?.[key] === value))
  if (found === undefined || found.length === 0) return undefined
  if (found.length > 1) throw new Error(`${name} has ${found.length} series for ${JSON.stringify(labels)}`)
  return Number(found[0]!.value ?? found[0]!.count)
}

t.test('metrics match the status API after a netns host goes down', { skip: netnsSkipReason() }, async t => {
  const hosts = await createTestHosts(t)
  const lun = { path: '/vol/vol1/data', size: 10 * GiB, used: 3 * GiB }
  const filerApi = await startFakeOntap({ luns: [lun], username: 'admin', password: 'secret', pageSize: 10 })
  t.teardown(() => filerApi.close())
  const api = await startApp(t, { pingIntervalMs: 200, threshold: 2, fpingPath: hosts.fpingWrapper, netappPort: filerApi.port, diskIntervalMs: 1000 })
  const events = await connectEvents(api.url)
  t.teardown(() => events.close())

  const host = (await api.call('POST', '/api/config/servers', validServer({ name: 'netns-host', dnsAddress: hosts.hostAddress }))).json.data.id
  const filer = (await api.call('POST', '/api/config/servers', validServer({
    name: 'filer',
    dnsAddress: '127.0.0.1',
    netapp: { enabled: true, apiType: 'rest', username: 'admin', password: 'secret', luns: [{ name: 'data', path: lun.path }], verifyTls: false }
  }))).json.data.id
  await api.call('POST', '/api/config/groups', { name: 'Lab', serverIds: [host, filer] })
  await api.call('POST', '/api/config/groups', { name: 'Storage', serverIds: [filer] })

  const status = async (id: string) => (await api.call('GET', `/api/servers/${id}`)).json.data
  await waitFor(async () => (await status(host)).isOnline && (await status(filer)).isOnline && (await status(filer)).diskInfo !== null, 15000, 'both online, the LUN read')
  await hosts.linkDown()
  await waitFor(async () => !(await status(host)).isOnline, 15000, 'the netns host offline')

  const families = await scrape(api)
  const statuses = (await api.call('GET', '/api/servers')).json.data as Array<{ id: string, name: string, isOnline: boolean, responseTimeMs?: number }>
  t.equal(families.get('probe_success')?.metrics.length, 2, 'one probe_success series per server')
  for (const server of statuses) {
    const labels = { server_id: server.id, server: server.name }
    t.equal(sample(families, 'probe_success', labels), server.isOnline ? 1 : 0, `probe_success of ${server.name} is what the status API says`)
    const rtt = sample(families, 'probe_icmp_duration_seconds', labels)
    if (server.isOnline) t.ok(rtt !== undefined && rtt > 0 && rtt < 1, `${server.name}: the last RTT in seconds (${rtt})`)
    else t.equal(rtt, undefined, `${server.name}: no RTT while it does not answer`)
  }
  const sent = sample(families, 'estatus_probe_sent_total', { server_id: host })!
  const replies = sample(families, 'estatus_probe_replies_total', { server_id: host })!
  t.ok(sent > replies && replies >= 2, `the host's echoes: ${sent} sent, ${replies} replies`)
  t.ok(sample(families, 'estatus_probe_replies_total', { server_id: filer })! >= 2)

  t.equal(sample(families, 'estatus_disk_size_bytes', { server_id: filer, disk: 'data', source: 'netapp' }), 10 * GiB)
  t.equal(sample(families, 'estatus_disk_used_bytes', { server_id: filer, disk: 'data', source: 'netapp' }), Math.round(lun.used / MiB) * MiB)
  t.same(families.get('estatus_server_group_info')?.metrics.map(metric => `${metric.labels?.server_id} ${metric.labels?.group} ${metric.value}`).sort(),
    [`${filer} Lab 1`, `${filer} Storage 1`, `${host} Lab 1`].sort(), 'group membership in the info metric')
  t.notOk([...families.values()].some(family => family.name !== 'estatus_server_group_info' && family.metrics.some(metric => metric.labels?.group !== undefined)), 'no other series has a group label')

  t.equal(sample(families, 'estatus_sse_clients', {}), 1)
  t.equal(sample(families, 'estatus_sse_events_total', { type: 'statusChange' }), events.messages.filter(message => message.type === 'statusChange').length)
  t.equal(sample(families, 'estatus_sse_events_total', { type: 'serverAdded' }), 2)
  t.equal(sample(families, 'estatus_sse_dropped_total', {}), 0)
  t.equal(sample(families, 'estatus_fping_restarts_total', {}), 0)
  t.equal(sample(families, 'estatus_leader', {}), 1, 'a single node always leads')
  t.ok(sample(families, 'estatus_config_write_seconds', {})! >= 4, 'every write of the data file is timed')
  // The parser loses the labels of histogram series whose `le` comes first (prom-client's order): read the count line.
  const byRoute = /^http_request_duration_seconds_count\{method="GET",route="\/api\/servers\/:id",status_code="200"\} (\d+)$/m.exec(await scrapeText(api))
  t.ok(Number(byRoute?.[1]) > 3, `HTTP durations by route pattern (${byRoute?.[1]} requests)`)
  t.ok(families.has('process_cpu_user_seconds_total') && families.has('nodejs_eventloop_lag_seconds'), 'the default process metrics')

  // A deleted server's series go with it.
  await api.call('DELETE', `/api/config/servers/${host}`)
  const after = await scrape(api)
  t.equal(sample(after, 'probe_success', { server_id: host }), undefined)
  t.equal(sample(after, 'estatus_probe_sent_total', { server_id: host }), undefined)
})

t.test('two apps in one process have registries of their own', async t => {
  const one = await startApp(t, { pingIntervalMs: 3600000 })
  const two = await startApp(t, { pingIntervalMs: 3600000 })
  await one.call('POST', '/api/config/servers', validServer({ name: 'only-in-one' }))
  const first = await scrape(one)
  const second = await scrape(two)
  t.equal(first.get('probe_success')?.metrics.length, 1)
  t.equal(second.get('probe_success')?.metrics.length, 0)
  t.ok(second.has('process_resident_memory_bytes'), 'both show the process metrics')
  await one.app.close()
  t.equal((await scrape(two)).get('probe_success')?.metrics.length, 0, 'closing one leaves the other working')
})

t.test('a renamed server keeps one series, under its new name', async t => {
  const api = await startApp(t, { pingIntervalMs: 3600000 })
  const id = (await api.call('POST', '/api/config/servers', validServer({ name: 'before' }))).json.data.id
  await scrape(api)
  await api.call('PUT', `/api/config/servers/${id}`, validServer({ name: 'after' }))
  const families = await scrape(api)
  t.same(families.get('probe_success')?.metrics.map(metric => metric.labels), [{ server_id: id, server: 'after' }])
})

t.test('concurrent scrapes each get every series (collection yields between chunks)', async t => {
  const api = await startApp(t, { pingIntervalMs: 3600000 })
  for (let i = 0; i < 600; i += 200) {
    await Promise.all(Array.from({ length: 200 }, (_, j) => api.app.estatus.store.createServer(validServer({ name: `s-${i + j}` }))))
  }
  const scrapes = await Promise.all(Array.from({ length: 5 }, () => scrape(api)))
  for (const families of scrapes) t.equal(families.get('probe_success')?.metrics.length, 600)
})
