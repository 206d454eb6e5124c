/**
 * readSnmpDisks against a REAL Net-SNMP `snmpd` (127.0.0.1, random UDP port, generated
 * config), checked against the `snmpget` command, and against a `net-snmp` Agent serving
 * crafted hrStorage rows whose sizes are wrapped to negative Integer32 values the way a
 * Windows agent sends them.
 */
import t from 'tap'
import { createRequire } from 'node:module'
import { mkdtemp, rm } from 'node:fs/promises'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { getEventListeners } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readSnmpDisks, type SnmpDiskTarget } from '../probes/snmp-disks.ts'
import type { DiskReading } from '../probes/disk-reading.ts'
import { freeUdpPort } from './support/ports.ts'
import { snmpget, snmpwalk, startSnmpd } from './support/snmpd.ts'
import { becomes, sleep } from './support/wait.ts'

const MiB = 1048576
const HR = '1.3.6.1.2.1.25.2.3.1'

// ---------------------------------------------------------------------------
// helpers

/** UDP sockets held by this process: socket fds whose inode is in /proc/self/net/udp{,6}. */
/**
 * Starts a read nobody will answer, aborts it after 300 ms and checks that it let go at
 * once: every disk "aborted", in order, and no listener left on the signal.
 */
async function abortInFlight (t: Pick<typeof import('tap').default, 'equal' | 'ok' | 'same'>, target: Omit<SnmpDiskTarget, 'timeoutMs' | 'signal'>, socketsBefore: number): Promise<AbortController> {
  const controller = new AbortController()
  const pending = readSnmpDisks({ ...target, timeoutMs: 5000, signal: controller.signal })
  await sleep(300)
  t.equal(udpSocketCount(), socketsBefore + 1, 'the request is in flight on its socket')
  const started = Date.now()
  controller.abort()
  const readings = await pending
  const elapsed = Date.now() - started
  // Waiting for the time-out would take 5,000 ms; the bound leaves a loaded machine room.
  t.ok(elapsed < 2000, `resolved ${elapsed} ms after the abort (timeoutMs 5000)`)
  t.same(readings, abortedAll(target.disks), 'one entry per configured disk, in order, all "aborted"')
  t.same(getEventListeners(controller.signal, 'abort'), [], 'no listener left on the signal')
  return controller
}

function udpSocketCount (): number {
  const inodes = new Set<string>()
  for (const file of ['/proc/self/net/udp', '/proc/self/net/udp6']) {
    let text = ''
    try { text = readFileSync(file, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols.length > 9) inodes.add(cols[9]!)
    }
  }
  let n = 0
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const link = readlinkSync(`/proc/self/fd/${fd}`)
      if (link.startsWith('socket:[') && inodes.has(link.slice(8, -1))) n++
    } catch { /* fd closed meanwhile */ }
  }
  return n
}

/** Let libuv finish closing handles (the fd goes away in the close callback). */
async function settle (): Promise<void> {
  await new Promise(resolve => setImmediate(resolve))
  await sleep(50)
}

function mib (bytes: number): number { return Math.round(bytes / MiB) }

/** Timers of this process (the probe's guard timers and net-snmp's request timers among them). */
const timerCount = (): number => process.getActiveResourcesInfo().filter(r => r === 'Timeout').length

/**
 * No more timers than `before`, within a second: a timer that was already running when
 * counted may end meanwhile; a leaked guard (5 s) outlives the second.
 */
async function noTimerLeft (t: Pick<typeof import('tap').default, 'ok'>, before: number): Promise<void> {
  t.ok(await becomes(() => timerCount() <= before, 1000), `no guard or request timer left (${timerCount()}, before ${before})`)
}

/** What every disk of an aborted call reads. */
const abortedAll = (disks: Array<{ index: number, name?: string }>): DiskReading[] =>
  disks.map(d => d.name === undefined ? { ok: false, index: d.index, error: 'aborted' } : { ok: false, index: d.index, name: d.name, error: 'aborted' })

function expectOk (r: DiskReading | undefined): Extract<DiskReading, { ok: true }>['disk'] {
  if (r === undefined || !r.ok) throw new Error(`expected a disk, got ${JSON.stringify(r)}`)
  return r.disk
}

// ---------------------------------------------------------------------------

t.test('against a real snmpd', async (t) => {
  const agent = await startSnmpd()
  t.teardown(agent.stop)

  // Its hrStorageTable: memory rows 1–10, filesystems from 31 up (type hrStorageFixedDisk).
  const types = await snmpwalk(agent, `${HR}.2`)
  const fsIndexes = types.filter(([, v]) => v === '.1.3.6.1.2.1.25.2.1.4').map(([oid]) => Number(oid.split('.').pop()))
  const memIndexes = types.filter(([, v]) => v === '.1.3.6.1.2.1.25.2.1.2').map(([oid]) => Number(oid.split('.').pop()))
  t.ok(fsIndexes.length > 0 && fsIndexes.every(i => i >= 31), `filesystem rows found at ${fsIndexes.join(', ')}`)
  t.ok(memIndexes.length > 0, 'a physical-memory row found')

  t.test('figures match snmpget', async (t) => {
    const indexes = [...fsIndexes.slice(0, 3), memIndexes[0]!]
    const column = (col: number): string[] => indexes.map(i => `${HR}.${col}.${i}`)
    const before = await snmpget(agent, [...column(3), ...column(4), ...column(5), ...column(6)])
    const readings = await readSnmpDisks({
      host: '127.0.0.1',
      port: agent.port,
      community: agent.community,
      timeoutMs: 2000,
      disks: indexes.map((index, n) => n === 0 ? { index, name: 'first' } : { index })
    })
    const after = await snmpget(agent, [...column(5), ...column(6)])
    t.equal(readings.length, indexes.length)
    const k = indexes.length
    indexes.forEach((index, n) => {
      const descr = JSON.parse(before[n]!) as string // -Oqv prints strings quoted
      const units = Number(before[k + n])
      const size = Number(before[2 * k + n])
      const usedBefore = Number(before[3 * k + n])
      const usedAfter = Number(after[k + n])
      t.equal(Number(after[n]), size, `size of ${index} stable`)
      const disk = expectOk(readings[n])
      t.equal(disk.source, 'snmp')
      t.equal(disk.index, index)
      t.equal(disk.description, descr, `descr of ${index}`)
      t.equal(disk.total, mib(size * units), `total of ${index} (${size} × ${units} B)`)
      const lo = Math.min(mib(usedBefore * units), mib(usedAfter * units))
      const hi = Math.max(mib(usedBefore * units), mib(usedAfter * units))
      t.ok(disk.used >= lo && disk.used <= hi, `used of ${index}: ${disk.used} MiB within snmpget's [${lo}, ${hi}]`)
      if (usedBefore === usedAfter) {
        t.equal(disk.used, mib(usedBefore * units))
        t.equal(disk.free, mib(Math.max(0, size - usedBefore) * units))
        t.equal(disk.percentage, size > 0 ? Math.round(usedBefore / size * 100) : 0)
      }
      if (n === 0) t.equal(disk.name, 'first')
      else t.notOk('name' in disk, 'no name when none configured')
    })
  })

  t.test('a missing index fails that disk only, in configured order', async (t) => {
    const fs = fsIndexes[0]!
    const readings = await readSnmpDisks({
      host: '127.0.0.1',
      port: agent.port,
      community: agent.community,
      timeoutMs: 2000,
      disks: [{ index: 9999, name: 'ghost' }, { index: fs, name: 'root' }, { index: 9998 }]
    })
    t.equal(readings.length, 3)
    const [ghost, root, other] = readings
    t.equal(ghost?.ok, false)
    if (ghost !== undefined && !ghost.ok) {
      t.equal(ghost.index, 9999)
      t.equal(ghost.name, 'ghost')
      t.match(ghost.error, /storage index 9999 not found/)
      t.match(ghost.error, /NoSuch(Instance|Object)/)
    }
    t.equal(expectOk(root).index, fs)
    t.equal(expectOk(root).name, 'root')
    t.equal(other?.ok, false)
    t.match(other, { ok: false, index: 9998, error: /9998/ })
  })

  t.test('wrong community: every disk times out within the budget, no socket leaks', async (t) => {
    await settle()
    const socketsBefore = udpSocketCount()
    const started = Date.now()
    const runs = await Promise.all(Array.from({ length: 10 }, async () => await readSnmpDisks({
      host: '127.0.0.1',
      port: agent.port,
      community: 'not-' + agent.community,
      timeoutMs: 300,
      disks: [{ index: fsIndexes[0]!, name: 'a' }, { index: 1 }]
    })))
    const elapsed = Date.now() - started
    // Together, not one after another (that would be 3,000 ms).
    t.ok(elapsed >= 280 && elapsed < 2400, `all 10 calls done in ${elapsed} ms (timeoutMs 300)`)
    for (const readings of runs) {
      t.equal(readings.length, 2)
      for (const r of readings) {
        t.equal(r.ok, false)
        if (!r.ok) {
          t.match(r.error, `SNMP request to 127.0.0.1:${agent.port} timed out after 300 ms`)
          t.notMatch(r.error, agent.community, 'the community is not in the message')
        }
      }
    }
    t.match(runs[0]![0], { ok: false, index: fsIndexes[0], name: 'a' })
    await settle()
    t.equal(udpSocketCount(), socketsBefore, 'no UDP socket left open')
  })

  t.test('timeoutMs is the total budget (with one retry inside it)', async (t) => {
    const started = Date.now()
    const [r] = await readSnmpDisks({ host: '127.0.0.1', port: agent.port, community: 'nope', timeoutMs: 2000, disks: [{ index: 1 }] })
    const elapsed = Date.now() - started
    t.match(r, { ok: false, error: /timed out after 2000 ms/ })
    // A retry with a budget of its own would take 4,000 ms.
    t.ok(elapsed >= 1950 && elapsed < 3400, `gave up after ${elapsed} ms`)
  })

  t.test('many successful calls leave no socket behind', async (t) => {
    await settle()
    const before = udpSocketCount()
    const all = await Promise.all(Array.from({ length: 25 }, async () => await readSnmpDisks({
      host: '127.0.0.1', port: agent.port, community: agent.community, timeoutMs: 2000, disks: [{ index: fsIndexes[0]! }]
    })))
    t.ok(all.every(r => r[0]?.ok === true), 'all 25 read')
    await settle()
    t.equal(udpSocketCount(), before, 'no UDP socket left open')
  })

  t.test('wrong community, aborted mid-request: every disk "aborted" at once, no socket, timer or listener left', async (t) => {
    await settle()
    const [socketsBefore, timersBefore] = [udpSocketCount(), timerCount()]
    const disks = [{ index: fsIndexes[0]!, name: 'a' }, { index: 1 }]
    await abortInFlight(t, { host: '127.0.0.1', port: agent.port, community: 'not-' + agent.community, disks }, socketsBefore)
    await settle()
    t.equal(udpSocketCount(), socketsBefore, 'no UDP socket left open')
    await noTimerLeft(t, timersBefore)
  })

  t.test('a signal that never aborts changes nothing and keeps no listener', async (t) => {
    const controller = new AbortController()
    const [ok] = await readSnmpDisks({
      host: '127.0.0.1', port: agent.port, community: agent.community, timeoutMs: 2000, disks: [{ index: fsIndexes[0]! }], signal: controller.signal
    })
    t.equal(expectOk(ok).index, fsIndexes[0])
    const [late] = await readSnmpDisks({
      host: '127.0.0.1', port: agent.port, community: 'nope', timeoutMs: 300, disks: [{ index: 1 }], signal: controller.signal
    })
    t.match(late, { ok: false, error: /timed out after 300 ms/ }, 'a time-out is still a time-out')
    t.same(getEventListeners(controller.signal, 'abort'), [], 'no listener left on the signal')
  })

  t.test('no disks configured: no request at all', async (t) => {
    t.same(await readSnmpDisks({ host: '127.0.0.1', port: agent.port, community: agent.community, timeoutMs: 500, disks: [] }), [])
  })
})

t.test('a stopped agent: every disk fails with a timeout, quickly', async (t) => {
  const agent = await startSnmpd()
  t.teardown(agent.stop)
  const target = { host: '127.0.0.1', port: agent.port, community: agent.community, timeoutMs: 400, disks: [{ index: 1, name: 'mem' }, { index: 31 }, { index: 9999 }] }
  const live = await readSnmpDisks(target)
  t.equal(live[0]?.ok, true, 'answers while running')
  await agent.stop()
  await settle()
  const socketsBefore = udpSocketCount()
  const started = Date.now()
  const dead = await readSnmpDisks(target)
  const elapsed = Date.now() - started
  // net-snmp's own default would wait 5,000 ms.
  t.ok(elapsed < 3000, `gave up after ${elapsed} ms`)
  t.equal(dead.length, 3)
  t.ok(dead.every(r => !r.ok && r.error.includes('timed out after 400 ms')), 'every disk: timed out')
  t.match(dead, [{ ok: false, index: 1, name: 'mem' }, { ok: false, index: 31 }, { ok: false, index: 9999 }])
  await settle()
  t.equal(udpSocketCount(), socketsBefore, 'no UDP socket left open')
})

t.test('aborted while nobody answers (several requests): every disk "aborted" at once, no socket left', async (t) => {
  const port = await freeUdpPort() // nobody listens there
  // 20 rows: three GET requests in flight together; an invalid index and a duplicate as well.
  const disks: Array<{ index: number, name?: string }> = [
    { index: -1, name: 'invalid' },
    ...Array.from({ length: 20 }, (_, i) => i % 5 === 0 ? { index: i + 1, name: `disk${i + 1}` } : { index: i + 1 }),
    { index: 3, name: 'again' }
  ]
  await settle()
  const [socketsBefore, timersBefore] = [udpSocketCount(), timerCount()]
  const controller = await abortInFlight(t, { host: '127.0.0.1', port, community: 'public', disks }, socketsBefore)
  await settle()
  t.equal(udpSocketCount(), socketsBefore, 'no UDP socket left open')
  await noTimerLeft(t, timersBefore)

  // Already aborted: no session at all.
  const again = readSnmpDisks({ host: '127.0.0.1', port, community: 'public', timeoutMs: 5000, disks, signal: controller.signal })
  t.equal(udpSocketCount(), socketsBefore, 'no socket opened')
  t.same(await again, abortedAll(disks), 'an aborted signal: "aborted" at once')
})

// ---------------------------------------------------------------------------
// Integer32 wrap, served by a net-snmp Agent as a Windows agent would send it.

interface NetSnmpAgentApi {
  createMib: () => { registerProvider: (p: unknown) => void, addTableRow: (table: string, row: unknown[]) => void }
  createAgent: (options: { port: number, address: string, disableAuthorization: boolean }, cb: (error: unknown) => void, mib: unknown) => { close: (cb?: () => void) => void }
  MibProviderType: { Table: unknown }
  MaxAccess: Record<string, unknown>
  ObjectType: Record<string, unknown>
}

t.test('Integer32 wrap: big volumes served as negative Integer32 (Windows agent)', async (t) => {
  const snmp = createRequire(import.meta.url)('net-snmp') as NetSnmpAgentApi
  const ro = snmp.MaxAccess['read-only']
  const mib = snmp.createMib()
  mib.registerProvider({
    name: 'hrStorageEntry',
    type: snmp.MibProviderType.Table,
    oid: HR,
    maxAccess: snmp.MaxAccess['not-accessible'],
    tableColumns: [
      { number: 1, name: 'hrStorageIndex', type: snmp.ObjectType.Integer, maxAccess: ro },
      { number: 2, name: 'hrStorageType', type: snmp.ObjectType.OID, maxAccess: ro },
      { number: 3, name: 'hrStorageDescr', type: snmp.ObjectType.OctetString, maxAccess: ro },
      { number: 4, name: 'hrStorageAllocationUnits', type: snmp.ObjectType.Integer, maxAccess: ro },
      { number: 5, name: 'hrStorageSize', type: snmp.ObjectType.Integer, maxAccess: ro },
      { number: 6, name: 'hrStorageUsed', type: snmp.ObjectType.Integer, maxAccess: ro }
    ],
    tableIndex: [{ columnName: 'hrStorageIndex' }]
  })
  const fixedDisk = '1.3.6.1.2.1.25.2.1.4'
  const wrap = (units: number): number => units >= 2 ** 31 ? units - 2 ** 32 : units
  // 1: "16 TiB" NTFS volume at 4 KiB clusters. Exactly 16 TiB would be 2^32 clusters,
  //    which wraps to 0 and cannot be told apart from an empty volume; NTFS's largest
  //    volume at 4 KiB is 2^32 − 1 clusters (16 TiB − 4 KiB), sent as −1. Used 3e9 clusters.
  mib.addTableRow('hrStorageEntry', [1, fixedDisk, 'C:\\ Label:Data  Serial Number 1a2b3c4d', 4096, wrap(2 ** 32 - 1), wrap(3_000_000_000)])
  // 2: 12 TiB, 10 TiB used: both above 2^31 clusters.
  mib.addTableRow('hrStorageEntry', [2, fixedDisk, 'D:\\ Label:Archive  Serial Number 5e6f7a8b', 4096, wrap(3 * 2 ** 30), wrap(10 * 2 ** 28)])
  // 3: the boundary: size exactly 2^31 units (Int32 min on the wire), used 2^31 − 1.
  mib.addTableRow('hrStorageEntry', [3, fixedDisk, 'E:\\', 512, wrap(2 ** 31), 2 ** 31 - 1])
  // 4: an ordinary small volume (no wrap).
  mib.addTableRow('hrStorageEntry', [4, fixedDisk, 'F:\\', 1024, 1_000_000, 250_000])

  const port = await freeUdpPort()
  const agent = snmp.createAgent({ port, address: '127.0.0.1', disableAuthorization: true }, () => {}, mib)
  t.teardown(() => new Promise<void>(resolve => agent.close(() => resolve())))

  // Proof that the wire really carries negative Integer32 values.
  const dir = await mkdtemp(join(tmpdir(), 'snmp-wrap-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const wire = await snmpget({ port, community: 'public', dir }, [`${HR}.5.1`, `${HR}.6.1`, `${HR}.5.2`, `${HR}.6.2`, `${HR}.5.3`])
  t.same(wire.map(Number), [-1, -1294967296, -1073741824, -1610612736, -2147483648], 'snmpget sees negative Integer32 values')

  const readings = await readSnmpDisks({
    host: '127.0.0.1',
    port,
    community: 'public',
    timeoutMs: 2000,
    disks: [{ index: 1, name: 'data' }, { index: 2 }, { index: 3 }, { index: 4 }, { index: 5, name: 'absent' }]
  })
  t.same(readings[0], {
    ok: true,
    disk: {
      // (2^32 − 1) × 4096 B = 16,777,215.996 MiB; 3e9 × 4096 B = 11,718,750 MiB
      total: 16777216,
      used: 11718750,
      free: 5058466,
      percentage: 70,
      description: 'C:\\ Label:Data  Serial Number 1a2b3c4d',
      index: 1,
      name: 'data',
      source: 'snmp'
    }
  }, '16 TiB − 4 KiB volume, 3e9 clusters used')
  t.same(readings[1], {
    ok: true,
    disk: { total: 12582912, used: 10485760, free: 2097152, percentage: 83, description: 'D:\\ Label:Archive  Serial Number 5e6f7a8b', index: 2, source: 'snmp' }
  }, '12 TiB volume, 10 TiB used')
  t.same(readings[2], {
    ok: true,
    disk: { total: 1048576, used: 1048576, free: 0, percentage: 100, description: 'E:\\', index: 3, source: 'snmp' }
  }, 'size = 2^31 units (Int32 min on the wire)')
  t.same(readings[3], {
    ok: true,
    disk: { total: 977, used: 244, free: 732, percentage: 25, description: 'F:\\', index: 4, source: 'snmp' }
  }, 'ordinary volume unchanged')
  t.match(readings[4], { ok: false, index: 5, name: 'absent', error: /storage index 5 not found/ })
})
