/**
 * readNetappLuns against the fake ONTAP filer (test/fake-ontap.ts): REST and ZAPI,
 * paging, matching and ordering, and every failure the monitor has to explain.
 */
import t from 'tap'
import { getEventListeners } from 'node:events'
import { startFakeOntap, type FakeLun, type FakeOntap } from './support/fake-ontap.ts'
import { readNetappLuns, type NetappTarget } from '../probes/netapp/index.ts'
import { waitFor } from './support/wait.ts'

const GiB = 1073741824
const USER = 'monitor'
const PASSWORD = 'Sup3r-Secret-pw'

// 12 LUNs, several volumes, two SVMs; sizes in bytes (64-bit, beyond 2^32).
const LUNS: FakeLun[] = Array.from({ length: 12 }, (_, i) => ({
  path: `/vol/vol${i % 4}/lun${i}`,
  size: (i + 1) * 100 * GiB,
  used: (i + 1) * 25 * GiB + i * 1048576,
  svm: i < 6 ? 'svm1' : 'svm2'
}))
// The same path in another SVM (paths are unique per SVM only).
LUNS.push({ path: '/vol/vol0/lun0', size: 7 * GiB, used: 1 * GiB, svm: 'svm2' })

const mib = (bytes: number): number => Math.round(bytes / 1048576)
const expectedDisk = (lun: FakeLun, name: string, description = lun.path): Record<string, unknown> => ({
  total: mib(lun.size),
  used: mib(lun.used),
  free: mib(lun.size - lun.used),
  percentage: Math.round(lun.used / lun.size * 100),
  name,
  description,
  source: 'netapp'
})

let fake: FakeOntap
t.before(async () => {
  fake = await startFakeOntap({ luns: LUNS, username: USER, password: PASSWORD, pageSize: 2 })
})
t.teardown(async () => { await fake.close() })

function target (apiType: 'rest' | 'zapi', over: Partial<NetappTarget> = {}): NetappTarget {
  return {
    host: '127.0.0.1',
    port: fake.port,
    apiType,
    username: USER,
    password: PASSWORD,
    verifyTls: false,
    timeoutMs: 3000,
    luns: [],
    ...over
  }
}

// Configured out of the filer's order on purpose.
const CONFIGURED = [
  { name: 'eleven', path: '/vol/vol3/lun11' },
  { name: 'two', path: '/vol/vol2/lun2' },
  { name: 'seven', path: '/vol/vol3/lun7' },
  { name: 'five', path: '/vol/vol1/lun5' },
  { name: 'one', path: '/vol/vol1/lun1' }
]

for (const apiType of ['rest', 'zapi'] as const) {
  t.test(`${apiType}: matched LUNs in configured order, across several pages`, async (t) => {
    const before = fake.requests
    const readings = await readNetappLuns(target(apiType, { luns: CONFIGURED }))
    const pages = fake.requests - before
    t.same(readings, CONFIGURED.map(c => {
      const lun = LUNS.find(l => l.path === c.path)!
      return { ok: true, disk: expectedDisk(lun, c.name) }
    }))
    // REST: 5 LUNs filtered server-side at 2 per page = 3 pages; ZAPI: 13 LUNs at 2 = 7.
    t.equal(pages, apiType === 'rest' ? 3 : 7, `${pages} pages fetched`)
  })

  t.test(`${apiType}: a missing LUN fails alone`, async (t) => {
    const readings = await readNetappLuns(target(apiType, {
      luns: [{ name: 'one', path: '/vol/vol1/lun1' }, { name: 'ghost', path: '/vol/vol9/ghost' }, { name: 'three', path: '/vol/vol3/lun3' }]
    }))
    t.equal(readings.length, 3)
    t.same(readings[0], { ok: true, disk: expectedDisk(LUNS[1]!, 'one') })
    t.match(readings[1], { ok: false, name: 'ghost', error: `LUN /vol/vol9/ghost not found on NetApp 127.0.0.1:${fake.port}` })
    t.same(readings[2], { ok: true, disk: expectedDisk(LUNS[3]!, 'three') })
  })

  t.test(`${apiType}: a path in two SVMs must be qualified`, async (t) => {
    const readings = await readNetappLuns(target(apiType, {
      luns: [{ name: 'ambiguous', path: '/vol/vol0/lun0' }, { name: 'svm2', path: 'svm2:/vol/vol0/lun0' }, { name: 'svm1', path: 'svm1:/vol/vol0/lun0' }]
    }))
    t.match(readings[0], { ok: false, name: 'ambiguous', error: /several SVMs.*svm1, svm2|several SVMs.*svm2, svm1/ })
    t.same(readings[1], { ok: true, disk: expectedDisk(LUNS[12]!, 'svm2', 'svm2:/vol/vol0/lun0') })
    t.same(readings[2], { ok: true, disk: expectedDisk(LUNS[0]!, 'svm1', 'svm1:/vol/vol0/lun0') })
  })

  t.test(`${apiType}: wrong password → clear error, password nowhere`, async (t) => {
    const wrong = 'Wr0ng-' + PASSWORD
    const luns = [{ name: 'one', path: '/vol/vol1/lun1' }, { name: 'two', path: '/vol/vol2/lun2' }]
    const readings = await readNetappLuns(target(apiType, { password: wrong, luns }))
    t.equal(readings.length, 2)
    for (const r of readings) {
      t.equal(r.ok, false)
      if (r.ok) continue
      t.match(r.error, `NetApp authentication failed (HTTP 401) for user ${USER}`)
      t.notMatch(r.error, wrong)
      t.notMatch(r.error, PASSWORD)
    }
    t.notMatch(JSON.stringify(readings), 'Wr0ng', 'not even part of it')
    t.match(readings, [{ name: 'one' }, { name: 'two' }])
  })

  t.test(`${apiType}: verifyTls true against the self-signed certificate → TLS error`, async (t) => {
    const before = fake.requests
    const readings = await readNetappLuns(target(apiType, { verifyTls: true, luns: [{ name: 'one', path: '/vol/vol1/lun1' }] }))
    t.match(readings, [{ ok: false, name: 'one', error: /certificate/ }])
    t.match(readings[0], { error: /verifyTls: false/ })
    t.match(readings[0], { error: /self-signed/ })
    t.equal(fake.requests, before, 'no request reached the filer (and no credentials were sent)')
  })

  t.test(`${apiType}: verifyTls false accepts it`, async (t) => {
    const readings = await readNetappLuns(target(apiType, { verifyTls: false, luns: [{ name: 'one', path: '/vol/vol1/lun1' }] }))
    t.same(readings, [{ ok: true, disk: expectedDisk(LUNS[1]!, 'one') }])
  })

  t.test(`${apiType}: a hanging filer times out within ~timeoutMs`, async (t) => {
    const hung = await startFakeOntap({ luns: LUNS, username: USER, password: PASSWORD, pageSize: 2, hang: true })
    t.teardown(() => hung.close())
    const started = Date.now()
    const readings = await readNetappLuns(target(apiType, { port: hung.port, timeoutMs: 400, luns: CONFIGURED.slice(0, 2) }))
    const elapsed = Date.now() - started
    t.ok(elapsed >= 380 && elapsed < 3000, `gave up after ${elapsed} ms`)
    t.equal(hung.requests, 1, 'the request did reach it')
    t.match(readings, [
      { ok: false, name: 'eleven', error: 'timed out after 400 ms' },
      { ok: false, name: 'two', error: 'timed out after 400 ms' }
    ])
  })

  t.test(`${apiType}: an abort stops a hanging request at once: 'aborted' per LUN, connection closed`, async (t) => {
    const hung = await startFakeOntap({ luns: LUNS, username: USER, password: PASSWORD, pageSize: 2, hang: true })
    t.teardown(() => hung.close())
    const luns = CONFIGURED.slice(0, 3)
    const controller = new AbortController()
    const pending = readNetappLuns(target(apiType, { port: hung.port, timeoutMs: 10000, luns, signal: controller.signal }))
    await waitFor(() => hung.requests === 1 && hung.openConnections === 1, 10_000, 'the request in flight')
    const started = Date.now()
    controller.abort()
    const readings = await pending
    const elapsed = Date.now() - started
    t.ok(elapsed < 3000, `resolved ${elapsed} ms after the abort (timeoutMs 10000)`)
    t.same(readings, luns.map(l => ({ ok: false, name: l.name, error: 'aborted' })), 'every LUN: aborted (not a time-out)')
    await waitFor(() => hung.openConnections === 0, 5000, 'the filer to see its connection closed')
    t.pass('the Agent is destroyed: the filer sees its connection closed')
    t.same(getEventListeners(controller.signal, 'abort'), [], 'no listener left on the signal')

    // Already aborted: no request at all.
    const again = await readNetappLuns(target(apiType, { port: hung.port, timeoutMs: 10000, luns, signal: controller.signal }))
    t.same(again, luns.map(l => ({ ok: false, name: l.name, error: 'aborted' })), 'an aborted signal: "aborted" at once')
    t.equal(hung.requests, 1, 'and no request sent')
  })

  t.test(`${apiType}: a signal that never aborts changes nothing and keeps no listener`, async (t) => {
    const controller = new AbortController()
    const ok = await readNetappLuns(target(apiType, { luns: [{ name: 'one', path: '/vol/vol1/lun1' }], signal: controller.signal }))
    t.same(ok, [{ ok: true, disk: expectedDisk(LUNS[1]!, 'one') }])
    const hung = await startFakeOntap({ luns: LUNS, username: USER, password: PASSWORD, pageSize: 2, hang: true })
    t.teardown(() => hung.close())
    const late = await readNetappLuns(target(apiType, { port: hung.port, timeoutMs: 300, luns: [{ name: 'one', path: '/vol/vol1/lun1' }], signal: controller.signal }))
    t.match(late, [{ ok: false, name: 'one', error: 'timed out after 300 ms' }], 'a time-out is still a time-out')
    t.same(getEventListeners(controller.signal, 'abort'), [], 'no listener left on the signal')
  })

  t.test(`${apiType}: a slow filer whose pages together exceed the budget times out`, async (t) => {
    const slow = await startFakeOntap({ luns: LUNS, username: USER, password: PASSWORD, pageSize: 2, delayMs: 150 })
    t.teardown(() => slow.close())
    const ok = await readNetappLuns(target(apiType, { port: slow.port, timeoutMs: 3000, luns: [{ name: 'one', path: '/vol/vol1/lun1' }] }))
    t.equal(ok[0]?.ok, true, 'slow but within budget: read')
    const started = Date.now()
    // Each page (150 ms) is well under the budget; all pages together (3 or 7 × 150 ms) are not.
    const late = await readNetappLuns(target(apiType, { port: slow.port, timeoutMs: 350, luns: CONFIGURED }))
    const elapsed = Date.now() - started
    t.ok(elapsed < 3000, `gave up after ${elapsed} ms`)
    t.ok(late.every(r => !r.ok && r.error.includes('timed out after 350 ms')), 'every LUN: timed out')
  })
}

t.test('zapi: results status="failed" is reported with its reason and errno', async (t) => {
  const reason = "Insufficient privileges: user 'monitor' does not have read access to this resource"
  fake.set({ zapiFailure: { errno: '13003', reason } })
  t.teardown(() => fake.set({ zapiFailure: undefined }))
  const readings = await readNetappLuns(target('zapi', { luns: [{ name: 'one', path: '/vol/vol1/lun1' }, { name: 'two', path: '/vol/vol2/lun2' }] }))
  t.equal(readings.length, 2)
  for (const r of readings) {
    t.equal(r.ok, false)
    if (!r.ok) {
      t.match(r.error, reason)
      t.match(r.error, 'errno 13003')
      t.match(r.error, 'lun-get-iter failed')
    }
  }
})

t.test('a filer that never stops paging is cut off', async (t) => {
  fake.set({ loopNext: true })
  t.teardown(() => fake.set({ loopNext: false }))
  for (const apiType of ['rest', 'zapi'] as const) {
    const before = fake.requests
    const readings = await readNetappLuns(target(apiType, { luns: [{ name: 'one', path: '/vol/vol1/lun1' }] }))
    t.match(readings, [{ ok: false, name: 'one', error: /pagination loop/ }], apiType)
    t.ok(fake.requests - before <= 3, `${apiType}: stopped after ${fake.requests - before} requests`)
  }
})

t.test('rest: paths the name filter cannot carry are matched client-side over every page', async (t) => {
  const odd: FakeLun = { path: '/vol/vol1/lun~odd', size: 10 * GiB, used: 5 * GiB }
  fake.set({ luns: [...LUNS, odd] })
  t.teardown(() => fake.set({ luns: LUNS }))
  const before = fake.requests
  const readings = await readNetappLuns(target('rest', { luns: [{ name: 'odd', path: odd.path }, { name: 'one', path: '/vol/vol1/lun1' }] }))
  t.same(readings, [{ ok: true, disk: expectedDisk(odd, 'odd') }, { ok: true, disk: expectedDisk(LUNS[1]!, 'one') }])
  t.equal(fake.requests - before, 7, 'all 14 LUNs, 2 per page')
  const first = fake.log[fake.log.length - 7]!
  t.notMatch(first.url, 'name=', 'no server-side filter')
  t.match(first.url, 'fields=name%2Csvm.name%2Cspace.size%2Cspace.used')
  t.match(fake.log[fake.log.length - 6]!.url, /[?&]start\.uuid=/, 'pages follow _links.next.href')
})

t.test('connection refused and no LUNs', async (t) => {
  const gone = await startFakeOntap({ luns: LUNS, username: USER, password: PASSWORD, pageSize: 2 })
  const port = gone.port
  await gone.close()
  const readings = await readNetappLuns(target('rest', { port, luns: [{ name: 'one', path: '/vol/vol1/lun1' }] }))
  t.match(readings, [{ ok: false, name: 'one', error: `connection to 127.0.0.1:${port} refused` }])
  t.same(await readNetappLuns(target('zapi', { luns: [] })), [])
})
