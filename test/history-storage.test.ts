import t from 'tap'
import pg from 'pg'
import Database from 'better-sqlite3'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createSqliteStorage } from '../plugins/history/sqlite-storage.ts'
import { HISTORY_SCHEMA, createPgHistoryStorage } from '../plugins/history/pg-storage.ts'
import { copyHistoryToPostgres } from '../plugins/history/copy-to-pg.ts'
import type { DiskRecord, HistoryStorage, MinuteRecord, Tally } from '../plugins/history/storage.ts'
import { startPostgres } from './support/postgres.ts'
import { tempDir } from './support/app.ts'

type Test = Parameters<typeof tempDir>[0]

const SECOND = 1000
const MINUTE = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000
const T0 = Date.UTC(2026, 0, 5)

const cluster = await startPostgres()
t.teardown(() => cluster.stop())

let databases = 0
/**
 * A pool on a new database holding HISTORY_SCHEMA; ended with the test. The database sorts
 * text by a language's rules (ICU en-US), as production ones often do: ids and disk keys must
 * still compare byte by byte, as in SQLite.
 */
async function historyPool (t: Test) {
  const name = `history_${++databases}`
  const admin = new pg.Client({ connectionString: cluster.url() })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`)
  } finally {
    await admin.end()
  }
  const pool = new pg.Pool({ connectionString: cluster.url(name), max: 4 })
  t.teardown(() => pool.end())
  await pool.query(HISTORY_SCHEMA)
  return pool
}

/** Closes `storage` with the test (before the pool it may use: teardowns run last first). */
function closing (t: Test, storage: HistoryStorage) {
  t.teardown(() => storage.close())
  return storage
}

const BACKENDS = {
  sqlite: async (t: Test) => closing(t, createSqliteStorage(join(await tempDir(t), 'history.sqlite'))),
  postgres: async (t: Test) => closing(t, createPgHistoryStorage(await historyPool(t)))
}

const tally = (probes: number, replies: number, rttMinUs: number | null, rttSumUs: number, rttMaxUs: number | null, onlineMs: number, monitoredMs: number): Tally =>
  ({ probes, replies, rttMinUs, rttSumUs, rttMaxUs, onlineMs, monitoredMs })
const minute = (serverId: string, t: number, of: Tally): MinuteRecord => ({ serverId, t, ...of })
const disk = (serverId: string, key: string, name: string, index: number | undefined, t: number, usedMiB: number, totalMiB: number): DiskRecord =>
  ({ serverId, disk: key, source: key.startsWith('snmp') ? 'snmp' : 'netapp', name, ...(index === undefined ? {} : { index }), t, usedMiB, totalMiB })

// What the fixture records, and (worked out by hand) what the roll-ups hold.
const A0 = tally(60, 60, 1000, 120_000, 3000, 60_000, 60_000)
const A1_FIRST = tally(20, 20, 2000, 50_000, 4000, 20_000, 20_000)
const A1_REST = tally(30, 10, 800, 10_000, 4500, 10_000, 30_000)
const A61 = tally(60, 30, 500, 30_000, 5000, 30_000, 60_000)
const A_DAY2 = tally(10, 10, 100, 1000, 200, 10_000, 10_000)
const B0 = tally(60, 0, null, 0, null, 0, 60_000)
const B2 = tally(60, 60, 700, 42_000, 900, 60_000, 60_000)
const C_FIRST = tally(5, 5, 300, 2000, 600, 5000, 5000)
const C_REST = tally(5, 0, null, 0, null, 0, 5000)
const A1 = tally(50, 30, 800, 60_000, 4500, 30_000, 50_000)
const C = tally(10, 5, 300, 2000, 600, 5000, 10_000)
const A_HOUR0 = tally(110, 90, 800, 180_000, 4500, 90_000, 110_000)
const A_DAY1 = tally(170, 120, 500, 210_000, 5000, 120_000, 170_000)
const A_BOTH_DAYS = tally(180, 130, 100, 211_000, 5000, 130_000, 180_000)
const B_HOUR0 = tally(120, 60, 700, 42_000, 900, 60_000, 120_000)

/**
 * Servers a, b, c. a's minute 1 comes in two writes, c's minute in two parts of one write;
 * b's hour gets its first round-trip times in the second write. A disk's readings come twice
 * in an hour (the larger use and the last total stay), and twice in a day within one write,
 * renamed in between; b flips offline and back online at the same instant (the last one wins).
 */
async function fill (storage: HistoryStorage) {
  await storage.record([minute('a', T0, A0), minute('a', T0 + MINUTE, A1_FIRST), minute('b', T0, B0), minute('a', T0 + 61 * MINUTE, A61)], [
    disk('a', 'snmp:1', '/', 1, T0, 10, 100),
    disk('a', 'netapp:vol1', 'vol1', undefined, T0, 50, 500),
    disk('a', 'snmp:1', '/', 1, T0 + HOUR, 30, 100)
  ])
  await storage.record([
    minute('a', T0 + MINUTE, A1_REST), minute('a', T0 + DAY + 5 * MINUTE, A_DAY2), minute('b', T0 + 2 * MINUTE, B2),
    minute('c', T0 + DAY + 10 * MINUTE, C_FIRST), minute('c', T0 + DAY + 10 * MINUTE, C_REST)
  ], [
    disk('a', 'snmp:1', '/', 1, T0 + HOUR, 20, 115),
    disk('a', 'snmp:1', '/root', 1, T0 + 2 * HOUR, 25, 120),
    disk('a', 'netapp:vol1', 'vol1', undefined, T0 + DAY, 60, 500),
    disk('a', 'netapp:vol1', 'vol1', undefined, T0 + DAY, 55, 510),
    disk('a', 'netapp:Vol2', 'Vol2', undefined, T0 + DAY, 5, 50),
    disk('b', 'snmp:2', 'C:', 2, T0, 1, 2)
  ])
  await Promise.all([
    { serverId: 'a', at: T0 + 10 * SECOND, online: false },
    { serverId: 'a', at: T0 + 70 * SECOND, online: true },
    { serverId: 'a', at: T0 + DAY + SECOND, online: false },
    { serverId: 'b', at: T0 + 5 * SECOND, online: false },
    { serverId: 'b', at: T0 + 5 * SECOND, online: true }
  ].map(transition => storage.recordTransition(transition)))
}

const totals = async (storage: HistoryStorage, ...args: Parameters<HistoryStorage['totals']>) => Object.fromEntries(await storage.totals(...args))
const lastStates = async (storage: HistoryStorage) => Object.fromEntries(await storage.lastStates())
// The order of the ids is no part of the interface (each backend gives its keys' order).
const serverIds = async (storage: HistoryStorage) => (await storage.serverIds()).sort()
const UNTIL = T0 + 3 * DAY

interface Case {
  name: string
  /** After the fixture. */
  act?: (storage: HistoryStorage) => Promise<void>
  ask: (storage: HistoryStorage) => Promise<unknown>
  expected: unknown
}

const CASES: Case[] = [
  {
    name: 'minutes: one recorded in two parts (two writes, or one) adds up; rows starting in [from, to)',
    ask: async storage => ({
      a: await storage.series('a', '1m', T0, UNTIL),
      c: await storage.series('c', '1m', T0, UNTIL),
      cut: await storage.series('a', '1m', T0 + 30 * SECOND, T0 + 61 * MINUTE),
      unknown: await storage.series('zz', '1m', T0, UNTIL)
    }),
    expected: {
      a: [{ t: T0, ...A0 }, { t: T0 + MINUTE, ...A1 }, { t: T0 + 61 * MINUTE, ...A61 }, { t: T0 + DAY + 5 * MINUTE, ...A_DAY2 }],
      c: [{ t: T0 + DAY + 10 * MINUTE, ...C }],
      cut: [{ t: T0 + MINUTE, ...A1 }],
      unknown: []
    }
  },
  {
    name: 'hours and days: the minutes rolled up',
    ask: async storage => ({
      hours: await storage.series('a', '1h', T0, UNTIL),
      days: await storage.series('a', '1d', T0, UNTIL),
      laterHours: await storage.series('a', '1h', T0 + 1, T0 + DAY),
      cDays: await storage.series('c', '1d', T0, UNTIL)
    }),
    expected: {
      hours: [{ t: T0, ...A_HOUR0 }, { t: T0 + HOUR, ...A61 }, { t: T0 + DAY, ...A_DAY2 }],
      days: [{ t: T0, ...A_DAY1 }, { t: T0 + DAY, ...A_DAY2 }],
      laterHours: [{ t: T0 + HOUR, ...A61 }],
      cDays: [{ t: T0 + DAY, ...C }]
    }
  },
  {
    name: 'totals per server over [from, to), of all servers or one',
    ask: async storage => ({
      hours: await totals(storage, '1h', T0, T0 + 2 * HOUR),
      days: await totals(storage, '1d', T0, UNTIL),
      oneServer: await totals(storage, '1m', T0, T0 + 2 * MINUTE, 'a'),
      unknown: await totals(storage, '1d', T0, UNTIL, 'zz'),
      empty: await totals(storage, '1m', UNTIL, UNTIL + DAY)
    }),
    expected: {
      hours: { a: A_DAY1, b: B_HOUR0 },
      days: { a: A_BOTH_DAYS, b: B_HOUR0, c: C },
      oneServer: { a: A_HOUR0 },
      unknown: {},
      empty: {}
    }
  },
  {
    name: 'incidents from transitions: newest first, those overlapping [from, to), limited',
    ask: async storage => ({
      all: await storage.incidents('a', T0, UNTIL, 10),
      endedAtFrom: await storage.incidents('a', T0 + 70 * SECOND, T0 + DAY, 10),
      startingAtTo: await storage.incidents('a', T0, T0 + 10 * SECOND, 10),
      limited: await storage.incidents('a', T0 + 69 * SECOND, T0 + DAY + 2 * SECOND, 1),
      replacedFlip: await storage.incidents('b', T0, UNTIL, 10),
      unknown: await storage.incidents('zz', T0, UNTIL, 10)
    }),
    expected: {
      all: [{ start: T0 + DAY + SECOND, end: null }, { start: T0 + 10 * SECOND, end: T0 + 70 * SECOND }],
      endedAtFrom: [],
      startingAtTo: [],
      limited: [{ start: T0 + DAY + SECOND, end: null }],
      replacedFlip: [],
      unknown: []
    }
  },
  {
    name: 'disks: the largest use, the last total and name, each disk in key order (byte order)',
    ask: async storage => ({
      hours: await storage.diskSeries('a', '1h', T0, UNTIL),
      days: await storage.diskSeries('a', '1d', T0, UNTIL),
      laterHours: await storage.diskSeries('a', '1h', T0 + DAY, UNTIL),
      firstDayHours: (await storage.diskSeries('a', '1h', T0, T0 + DAY)).map(disk => disk.points.map(point => point.t)),
      b: await storage.diskSeries('b', '1d', T0, T0 + DAY),
      unknown: await storage.diskSeries('zz', '1h', T0, UNTIL)
    }),
    expected: {
      hours: [
        { disk: 'netapp:Vol2', source: 'netapp', name: 'Vol2', points: [{ t: T0 + DAY, usedMiB: 5, totalMiB: 50 }] },
        { disk: 'netapp:vol1', source: 'netapp', name: 'vol1', points: [{ t: T0, usedMiB: 50, totalMiB: 500 }, { t: T0 + DAY, usedMiB: 60, totalMiB: 510 }] },
        { disk: 'snmp:1', source: 'snmp', name: '/root', index: 1, points: [{ t: T0, usedMiB: 10, totalMiB: 100 }, { t: T0 + HOUR, usedMiB: 30, totalMiB: 115 }, { t: T0 + 2 * HOUR, usedMiB: 25, totalMiB: 120 }] }
      ],
      days: [
        { disk: 'netapp:Vol2', source: 'netapp', name: 'Vol2', points: [{ t: T0 + DAY, usedMiB: 5, totalMiB: 50 }] },
        { disk: 'netapp:vol1', source: 'netapp', name: 'vol1', points: [{ t: T0, usedMiB: 50, totalMiB: 500 }, { t: T0 + DAY, usedMiB: 60, totalMiB: 510 }] },
        { disk: 'snmp:1', source: 'snmp', name: '/root', index: 1, points: [{ t: T0, usedMiB: 30, totalMiB: 120 }] }
      ],
      laterHours: [
        { disk: 'netapp:Vol2', source: 'netapp', name: 'Vol2', points: [{ t: T0 + DAY, usedMiB: 5, totalMiB: 50 }] },
        { disk: 'netapp:vol1', source: 'netapp', name: 'vol1', points: [{ t: T0 + DAY, usedMiB: 60, totalMiB: 510 }] },
        { disk: 'snmp:1', source: 'snmp', name: '/root', index: 1, points: [] }
      ],
      firstDayHours: [[], [T0], [T0, T0 + HOUR, T0 + 2 * HOUR]],
      b: [{ disk: 'snmp:2', source: 'snmp', name: 'C:', index: 2, points: [{ t: T0, usedMiB: 1, totalMiB: 2 }] }],
      unknown: []
    }
  },
  {
    name: 'last states and server ids',
    ask: async storage => ({ lastStates: await lastStates(storage), serverIds: await serverIds(storage) }),
    expected: { lastStates: { a: false, b: true }, serverIds: ['a', 'b', 'c'] }
  },
  {
    name: 'record is one transaction: a batch with a bad row writes nothing',
    act: async storage => {
      await storage.record([minute('a', UNTIL, A0), minute('a', UNTIL + MINUTE, { ...A0, probes: Number.NaN })], [disk('a', 'snmp:1', '/', 1, UNTIL, 1, 1)])
        .then(() => { throw new Error('recorded a NaN') }, () => {})
    },
    ask: async storage => ({
      minutes: await storage.series('a', '1m', UNTIL, UNTIL + DAY),
      days: await storage.series('a', '1d', T0, UNTIL + DAY),
      disks: (await storage.diskSeries('a', '1h', UNTIL, UNTIL + DAY)).map(disk => disk.points)
    }),
    expected: { minutes: [], days: [{ t: T0, ...A_DAY1 }, { t: T0 + DAY, ...A_DAY2 }], disks: [[], [], []] }
  },
  {
    name: 'a new server in a batch that fails is not kept: the next new server\'s rows are its own',
    act: async storage => {
      await storage.record([minute('new-1', UNTIL, A0), minute('new-1', UNTIL + MINUTE, { ...A0, probes: Number.NaN })], [])
        .then(() => { throw new Error('recorded a NaN') }, () => {})
      await storage.record([minute('new-2', UNTIL, C)], [])
      await storage.record([minute('new-1', UNTIL + MINUTE, A1)], [])
    },
    ask: async storage => ({
      serverIds: await serverIds(storage),
      first: await storage.series('new-1', '1m', UNTIL, UNTIL + DAY),
      second: await storage.series('new-2', '1m', UNTIL, UNTIL + DAY)
    }),
    expected: {
      serverIds: ['a', 'b', 'c', 'new-1', 'new-2'],
      first: [{ t: UNTIL + MINUTE, ...A1 }],
      second: [{ t: UNTIL, ...C }]
    }
  },
  {
    name: 'prune: rows wholly before each cutoff go, disk by disk; days stay with no cutoff',
    act: storage => storage.prune({ minutes: T0 + 61 * MINUTE + 1, hours: T0 + HOUR + 30 * MINUTE, days: null, transitions: T0 + 70 * SECOND }),
    ask: async storage => ({
      minutes: await storage.series('a', '1m', T0, UNTIL),
      bMinutes: await storage.series('b', '1m', T0, UNTIL),
      hours: await storage.series('a', '1h', T0, UNTIL),
      days: await storage.series('a', '1d', T0, UNTIL),
      diskHours: (await storage.diskSeries('a', '1h', T0, UNTIL)).map(disk => disk.points),
      bDiskHours: (await storage.diskSeries('b', '1h', T0, UNTIL)).map(disk => disk.points),
      diskDays: (await storage.diskSeries('a', '1d', T0, UNTIL)).map(disk => disk.points.length),
      incidents: await storage.incidents('a', T0, UNTIL, 10),
      lastStates: await lastStates(storage)
    }),
    expected: {
      minutes: [{ t: T0 + 61 * MINUTE, ...A61 }, { t: T0 + DAY + 5 * MINUTE, ...A_DAY2 }],
      bMinutes: [],
      hours: [{ t: T0 + HOUR, ...A61 }, { t: T0 + DAY, ...A_DAY2 }],
      days: [{ t: T0, ...A_DAY1 }, { t: T0 + DAY, ...A_DAY2 }],
      diskHours: [[{ t: T0 + DAY, usedMiB: 5, totalMiB: 50 }], [{ t: T0 + DAY, usedMiB: 60, totalMiB: 510 }], [{ t: T0 + HOUR, usedMiB: 30, totalMiB: 115 }, { t: T0 + 2 * HOUR, usedMiB: 25, totalMiB: 120 }]],
      bDiskHours: [[]],
      diskDays: [1, 2, 1],
      incidents: [{ start: T0 + DAY + SECOND, end: null }],
      lastStates: { a: false }
    }
  },
  {
    name: 'prune with a cutoff for days',
    act: storage => storage.prune({ minutes: T0, hours: T0, days: T0 + DAY + HOUR, transitions: T0 }),
    ask: async storage => ({
      days: await storage.series('a', '1d', T0, UNTIL),
      bDays: await storage.series('b', '1d', T0, UNTIL),
      hours: await storage.series('a', '1h', T0, UNTIL),
      diskDays: (await storage.diskSeries('a', '1d', T0, UNTIL)).map(disk => disk.points),
      totals: await totals(storage, '1d', T0, UNTIL)
    }),
    expected: {
      days: [{ t: T0 + DAY, ...A_DAY2 }],
      bDays: [],
      hours: [{ t: T0, ...A_HOUR0 }, { t: T0 + HOUR, ...A61 }, { t: T0 + DAY, ...A_DAY2 }],
      diskDays: [[{ t: T0 + DAY, usedMiB: 5, totalMiB: 50 }], [{ t: T0 + DAY, usedMiB: 60, totalMiB: 510 }], []],
      totals: { a: A_DAY2, c: C }
    }
  },
  {
    name: 'deleteServers removes every row of those servers, and only theirs',
    act: storage => storage.deleteServers(['a', 'zz']),
    ask: async storage => ({
      serverIds: await serverIds(storage),
      minutes: await storage.series('a', '1m', T0, UNTIL),
      days: await storage.series('a', '1d', T0, UNTIL),
      disks: await storage.diskSeries('a', '1h', T0, UNTIL),
      incidents: await storage.incidents('a', T0, UNTIL, 10),
      lastStates: await lastStates(storage),
      totals: await totals(storage, '1d', T0, UNTIL),
      bDisks: (await storage.diskSeries('b', '1h', T0, UNTIL)).length
    }),
    expected: { serverIds: ['b', 'c'], minutes: [], days: [], disks: [], incidents: [], lastStates: { b: true }, totals: { b: B_HOUR0, c: C }, bDisks: 1 }
  },
  {
    name: 'a deleted server that comes back starts with no history',
    act: async storage => {
      await storage.deleteServers(['a'])
      await storage.record([minute('a', UNTIL, A0)], [disk('a', 'snmp:1', '/', 1, UNTIL, 1, 100)])
    },
    ask: async storage => ({
      serverIds: await serverIds(storage),
      days: await storage.series('a', '1d', T0, UNTIL + DAY),
      disks: await storage.diskSeries('a', '1d', T0, UNTIL + DAY),
      incidents: await storage.incidents('a', T0, UNTIL + DAY, 10),
      lastStates: await lastStates(storage)
    }),
    expected: {
      serverIds: ['a', 'b', 'c'],
      days: [{ t: UNTIL, ...A0 }],
      disks: [{ disk: 'snmp:1', source: 'snmp', name: '/', index: 1, points: [{ t: UNTIL, usedMiB: 1, totalMiB: 100 }] }],
      incidents: [],
      lastStates: { b: true }
    }
  }
]

/** Answers of one case from the fixture in `storage`. */
async function answer (storage: HistoryStorage, { act, ask }: Case) {
  await act?.(storage)
  return ask(storage)
}

t.test('the SQLite and the PostgreSQL storage answer alike', async t => {
  for (const testCase of CASES) {
    t.test(testCase.name, async t => {
      const answers: Record<string, unknown> = {}
      for (const [backend, open] of Object.entries(BACKENDS)) {
        const storage = await open(t)
        await fill(storage)
        answers[backend] = await answer(storage, testCase)
        t.strictSame(answers[backend], testCase.expected, backend)
      }
      t.strictSame(answers.postgres, answers.sqlite, 'identical')
    })
  }
})

t.test('a copy of a SQLite history in PostgreSQL answers as the original', async t => {
  for (const testCase of CASES) {
    t.test(testCase.name, async t => {
      const file = join(await tempDir(t), 'history.sqlite')
      const filled = createSqliteStorage(file)
      await fill(filled)
      await filled.close()
      const pool = await historyPool(t)
      await copyHistoryToPostgres(file, pool)
      const original = closing(t, createSqliteStorage(file))
      const copy = closing(t, createPgHistoryStorage(pool))
      t.strictSame(await answer(copy, testCase), await answer(original, testCase))
    })
  }
})

t.test('copyHistoryToPostgres copies each table once, reads the file only, and leaves its other tables alone', async t => {
  const file = join(await tempDir(t), 'history.sqlite')
  const filled = createSqliteStorage(file)
  await fill(filled)
  await filled.close()
  const db = new Database(file)
  db.exec("CREATE TABLE outbox (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO outbox (body) VALUES ('an alert')")
  db.close()
  const digest = () => createHash('sha256').update(readFileSync(file)).digest('hex')
  const before = digest()
  const pool = await historyPool(t)

  const counts = {
    history_servers: 3,
    history_minutes: 7,
    history_hours: 5,
    history_days: 4,
    history_transitions: 4,
    history_disks: 4,
    history_disk_hours: 7,
    history_disk_days: 5
  }
  t.strictSame(await copyHistoryToPostgres(file, pool), { tables: counts })
  t.strictSame(await copyHistoryToPostgres(file, pool), { tables: Object.fromEntries(Object.keys(counts).map(table => [table, 0])) },
    'a second run finds every row there')
  t.equal(digest(), before, 'the file is unchanged')
  const { rows } = await pool.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
  t.strictSame(rows.map(row => row.tablename), Object.keys(counts).sort(), 'history tables only, each prefixed')
  for (const [table, count] of Object.entries(counts)) {
    t.equal((await pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, count, table)
  }
})

t.test('copyHistoryToPostgres copies more rows than one batch holds', async t => {
  const file = join(await tempDir(t), 'history.sqlite')
  const filled = createSqliteStorage(file)
  // 2 × 6,000 minutes: more than a batch of 10,000 rows, and not a multiple of it.
  const minutes = ['a', 'b'].flatMap(id => Array.from({ length: 6000 }, (_, i) => minute(id, T0 + i * MINUTE, tally(60, i % 61, i, i * 60, i + 9, i % 60_001, 60_000))))
  await filled.record(minutes, [])
  await filled.close()
  const pool = await historyPool(t)
  t.strictSame((await copyHistoryToPostgres(file, pool)).tables.history_minutes, 12_000)
  const original = closing(t, createSqliteStorage(file))
  const copy = closing(t, createPgHistoryStorage(pool))
  for (const id of ['a', 'b']) t.strictSame(await copy.series(id, '1m', T0, T0 + 5 * DAY), await original.series(id, '1m', T0, T0 + 5 * DAY), id)
  t.strictSame(Object.fromEntries(await copy.totals('1h', T0, T0 + 5 * DAY)), Object.fromEntries(await original.totals('1h', T0, T0 + 5 * DAY)))
})
