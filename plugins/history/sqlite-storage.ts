import type Database from 'better-sqlite3'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import {
  STEP_MS, addTally,
  type DiskRecord, type DiskSeries, type HistoryStorage, type Incident, type MinuteRecord, type RetentionCutoffs,
  type SeriesPoint, type Step, type Tally, type Transition
} from './storage.ts'
import { closeDatabase, openDatabase } from '../../lib/sqlite.ts'
import { createWriteBatches } from '../../lib/write-batches.ts'

const TALLY_TABLES = { '1m': 'minutes', '1h': 'hours', '1d': 'days' } as const
const tallyColumns = 'probes INTEGER NOT NULL, replies INTEGER NOT NULL, rtt_min INTEGER, rtt_sum INTEGER NOT NULL, ' +
  'rtt_max INTEGER, online_ms INTEGER NOT NULL, monitored_ms INTEGER NOT NULL'

// Rows are keyed by a small integer per server and a period number (minutes, hours or days
// since the epoch), in tables WITHOUT ROWID: that keeps a year of a server within 1 MiB.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS servers (key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);
${Object.values(TALLY_TABLES).map(table => `CREATE TABLE IF NOT EXISTS ${table} (server INTEGER NOT NULL, t INTEGER NOT NULL, ${tallyColumns}, PRIMARY KEY (server, t)) WITHOUT ROWID;`).join('\n')}
CREATE TABLE IF NOT EXISTS transitions (server INTEGER NOT NULL, at INTEGER NOT NULL, online INTEGER NOT NULL, PRIMARY KEY (server, at)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS disks (server INTEGER NOT NULL, disk TEXT NOT NULL, source TEXT NOT NULL, name TEXT NOT NULL, disk_index INTEGER, PRIMARY KEY (server, disk)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS disk_hours (server INTEGER NOT NULL, disk TEXT NOT NULL, t INTEGER NOT NULL, used_max INTEGER NOT NULL, total INTEGER NOT NULL, PRIMARY KEY (server, disk, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS disk_days (server INTEGER NOT NULL, disk TEXT NOT NULL, t INTEGER NOT NULL, used_max INTEGER NOT NULL, total INTEGER NOT NULL, PRIMARY KEY (server, disk, t)) WITHOUT ROWID;
`
const DISK_TABLES = { '1h': 'disk_hours', '1d': 'disk_days' } as const
const SERVER_TABLES = [...Object.values(TALLY_TABLES), 'transitions', 'disks', ...Object.values(DISK_TABLES)]

/** Adds to a row or creates it; a minute written in parts (around a restart) adds up. */
const addTallySql = (table: string) => `INSERT INTO ${table} (server, t, probes, replies, rtt_min, rtt_sum, rtt_max, online_ms, monitored_ms)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (server, t) DO UPDATE SET
  probes = probes + excluded.probes, replies = replies + excluded.replies,
  rtt_min = coalesce(min(rtt_min, excluded.rtt_min), rtt_min, excluded.rtt_min),
  rtt_sum = rtt_sum + excluded.rtt_sum,
  rtt_max = coalesce(max(rtt_max, excluded.rtt_max), rtt_max, excluded.rtt_max),
  online_ms = online_ms + excluded.online_ms, monitored_ms = monitored_ms + excluded.monitored_ms`
const maxDiskSql = (table: string) => `INSERT INTO ${table} (server, disk, t, used_max, total) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (server, disk, t) DO UPDATE SET used_max = max(used_max, excluded.used_max), total = excluded.total`
const TALLY_SELECT = 'probes, replies, rtt_min AS rttMinUs, rtt_sum AS rttSumUs, rtt_max AS rttMaxUs, online_ms AS onlineMs, monitored_ms AS monitoredMs'
const TALLY_SUMS = 'sum(probes) AS probes, sum(replies) AS replies, min(rtt_min) AS rttMinUs, sum(rtt_sum) AS rttSumUs, ' +
  'max(rtt_max) AS rttMaxUs, sum(online_ms) AS onlineMs, sum(monitored_ms) AS monitoredMs'

/** Servers per transaction when pruning: each is a few index seeks, so a chunk takes milliseconds. */
const PRUNE_CHUNK = 200

/** A tally row under its server's key; `t` is the start of its period in ms. */
interface KeyedTally extends Tally { key: number, t: number }

/** Built field by field: one object shape for every row keeps the loops below fast. */
const keyedTally = (key: number, t: number, tally: Tally): KeyedTally => ({
  key,
  t,
  probes: tally.probes,
  replies: tally.replies,
  rttMinUs: tally.rttMinUs,
  rttSumUs: tally.rttSumUs,
  rttMaxUs: tally.rttMaxUs,
  onlineMs: tally.onlineMs,
  monitoredMs: tally.monitoredMs
})

/**
 * Sums rows per server and period. The rows come in key order (server, then time), so the
 * rows of one period are adjacent: one pass, no map.
 */
function rollUp (rows: KeyedTally[], periodMs: number): KeyedTally[] {
  const rolled: KeyedTally[] = []
  let last: KeyedTally | undefined
  for (const row of rows) {
    const t = Math.floor(row.t / periodMs) * periodMs
    if (last === undefined || last.key !== row.key || last.t !== t) {
      last = keyedTally(row.key, t, row)
      rolled.push(last)
    } else {
      addTally(last, row)
    }
  }
  return rolled
}

const toTally = (row: Record<string, number | null>): Tally => ({
  probes: row.probes ?? 0,
  replies: row.replies ?? 0,
  rttMinUs: row.rttMinUs ?? null,
  rttSumUs: row.rttSumUs ?? 0,
  rttMaxUs: row.rttMaxUs ?? null,
  onlineMs: row.onlineMs ?? 0,
  monitoredMs: row.monitoredMs ?? 0
})
const periods = (step: Step, from: number, to: number) => [Math.ceil(from / STEP_MS[step]), Math.ceil(to / STEP_MS[step])]

/** The prepared reads. */
function readStatements (db: Database.Database) {
  const seriesQueries = Object.fromEntries(Object.entries(TALLY_TABLES).map(([step, table]) => [step,
    db.prepare(`SELECT t, ${TALLY_SELECT} FROM ${table} WHERE server = ? AND t >= ? AND t < ? ORDER BY t`)])) as Record<Step, Database.Statement>
  // One statement per step: the planner walks `servers` and seeks each server's range by primary key.
  const totalsQueries = Object.fromEntries(Object.entries(TALLY_TABLES).map(([step, table]) => [step, {
    all: db.prepare(`SELECT s.id AS id, ${TALLY_SUMS} FROM servers s JOIN ${table} x ON x.server = s.key AND x.t >= ? AND x.t < ? GROUP BY s.key`),
    one: db.prepare(`SELECT s.id AS id, ${TALLY_SUMS} FROM servers s JOIN ${table} x ON x.server = s.key AND x.t >= ? AND x.t < ? WHERE s.id = ? GROUP BY s.key`)
  }])) as Record<Step, { all: Database.Statement, one: Database.Statement }>
  const incidentsQuery = db.prepare(`SELECT start, "end" FROM (
      SELECT d.at AS start, (SELECT min(u.at) FROM transitions u WHERE u.server = d.server AND u.online = 1 AND u.at > d.at) AS "end"
      FROM transitions d WHERE d.server = ? AND d.online = 0 AND d.at < ? ORDER BY d.at DESC)
    WHERE "end" IS NULL OR "end" > ? LIMIT ?`)
  const lastStatesQuery = db.prepare(`SELECT s.id AS id, (SELECT online FROM transitions x WHERE x.server = s.key ORDER BY at DESC LIMIT 1) AS online
    FROM servers s`)
  const disksQuery = db.prepare('SELECT disk, source, name, disk_index AS diskIndex FROM disks WHERE server = ? ORDER BY disk')
  const diskPointQueries = {
    '1h': db.prepare('SELECT t, used_max AS usedMiB, total AS totalMiB FROM disk_hours WHERE server = ? AND disk = ? AND t >= ? AND t < ? ORDER BY t'),
    '1d': db.prepare('SELECT t, used_max AS usedMiB, total AS totalMiB FROM disk_days WHERE server = ? AND disk = ? AND t >= ? AND t < ? ORDER BY t')
  }
  return { seriesQueries, totalsQueries, incidentsQuery, lastStatesQuery, disksQuery, diskPointQueries }
}

/**
 * Old disk rows of a server. The key is (server, disk, t): naming the disks lets SQLite seek
 * each disk's old rows; `server = ? AND t < ?` alone reads every row the server has.
 */
const pruneDisksSql = (table: string) => `DELETE FROM ${table} WHERE server = ? AND disk IN (SELECT disk FROM disks WHERE server = ?) AND t < ?`

/** Old rows of some servers, one short transaction. */
function pruneTransaction (db: Database.Database) {
  const prunes = {
    minutes: db.prepare('DELETE FROM minutes WHERE server = ? AND t < ?'),
    hours: db.prepare('DELETE FROM hours WHERE server = ? AND t < ?'),
    diskHours: db.prepare(pruneDisksSql('disk_hours')),
    days: db.prepare('DELETE FROM days WHERE server = ? AND t < ?'),
    diskDays: db.prepare(pruneDisksSql('disk_days')),
    transitions: db.prepare('DELETE FROM transitions WHERE server = ? AND at < ?')
  }
  return db.transaction((serverKeys: number[], cutoffs: RetentionCutoffs) => {
    const hour = Math.floor(cutoffs.hours / STEP_MS['1h'])
    for (const key of serverKeys) {
      prunes.minutes.run(key, Math.floor(cutoffs.minutes / STEP_MS['1m']))
      prunes.hours.run(key, hour)
      prunes.diskHours.run(key, key, hour)
      prunes.transitions.run(key, cutoffs.transitions)
      if (cutoffs.days !== null) {
        prunes.days.run(key, Math.floor(cutoffs.days / STEP_MS['1d']))
        prunes.diskDays.run(key, key, Math.floor(cutoffs.days / STEP_MS['1d']))
      }
    }
  })
}

export function createSqliteStorage (file: string): HistoryStorage {
  const db = openDatabase(file, SCHEMA)

  const keys = new Map<string, number>()
  for (const row of db.prepare('SELECT key, id FROM servers').all() as Array<{ key: number, id: string }>) keys.set(row.id, row.key)
  const insertServer = db.prepare('INSERT INTO servers (id) VALUES (?)')
  /** Keys given out in the transaction under way: forgotten if it rolls back (the next server would get the same key). */
  const uncommitted: string[] = []
  function keyOf (id: string): number {
    let key = keys.get(id)
    if (key === undefined) {
      key = Number(insertServer.run(id).lastInsertRowid)
      keys.set(id, key)
      uncommitted.push(id)
    }
    return key
  }
  /** `transaction` with the keys it gave out taken back when it throws. */
  function keeping<A extends unknown[]> (transaction: (...args: A) => void) {
    return (...args: A) => {
      try {
        transaction(...args)
      } catch (err) {
        for (const id of uncommitted) keys.delete(id)
        throw err
      } finally {
        uncommitted.length = 0
      }
    }
  }

  const addTallies = Object.fromEntries(Object.entries(TALLY_TABLES).map(([step, table]) => [step, db.prepare(addTallySql(table))])) as Record<Step, Database.Statement>
  const maxDisks = { '1h': db.prepare(maxDiskSql(DISK_TABLES['1h'])), '1d': db.prepare(maxDiskSql(DISK_TABLES['1d'])) }
  const upsertDisk = db.prepare(`INSERT INTO disks (server, disk, source, name, disk_index) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (server, disk) DO UPDATE SET source = excluded.source, name = excluded.name, disk_index = excluded.disk_index`)
  const insertTransition = db.prepare('INSERT OR REPLACE INTO transitions (server, at, online) VALUES (?, ?, ?)')
  // The flips of one probe round in one transaction (1,000 servers flipping together were 1,000 commits).
  const transitions = createWriteBatches<Transition>(keeping(db.transaction((batch: Transition[]) => {
    for (const { serverId, at, online } of batch) insertTransition.run(keyOf(serverId), at, online ? 1 : 0)
  })))

  const writeTallies = (step: Step, rows: KeyedTally[]) => {
    const periodMs = STEP_MS[step]
    for (const row of rows) {
      addTallies[step].run(row.key, row.t / periodMs, row.probes, row.replies, row.rttMinUs, row.rttSumUs, row.rttMaxUs, row.onlineMs, row.monitoredMs)
    }
  }
  const record = keeping(db.transaction((minutes: MinuteRecord[], disks: DiskRecord[]) => {
    // In key order (rows come minute by minute) a server's rows are written together, and
    // the rows of one hour or day are adjacent for the roll-ups.
    const keyed = minutes.map(row => keyedTally(keyOf(row.serverId), row.t, row)).sort((a, b) => a.key - b.key || a.t - b.t)
    writeTallies('1m', keyed)
    writeTallies('1h', rollUp(keyed, STEP_MS['1h']))
    writeTallies('1d', rollUp(keyed, STEP_MS['1d']))
    for (const disk of disks) {
      const key = keyOf(disk.serverId)
      upsertDisk.run(key, disk.disk, disk.source, disk.name, disk.index ?? null)
      maxDisks['1h'].run(key, disk.disk, disk.t / STEP_MS['1h'], disk.usedMiB, disk.totalMiB)
      maxDisks['1d'].run(key, disk.disk, Math.floor(disk.t / STEP_MS['1d']), disk.usedMiB, disk.totalMiB)
    }
  }))

  const read = readStatements(db)
  const pruneServers = pruneTransaction(db)
  const deletes = SERVER_TABLES.map(table => db.prepare(`DELETE FROM ${table} WHERE server = ?`))
  const deleteServer = db.prepare('DELETE FROM servers WHERE key = ?')
  const deleteServers = db.transaction((ids: string[]) => {
    for (const id of ids) {
      const key = keys.get(id)
      if (key === undefined) continue
      for (const statement of deletes) statement.run(key)
      deleteServer.run(key)
      keys.delete(id)
    }
  })

  return {
    async record (minutes, disks) { record(minutes, disks) },
    recordTransition: transition => transitions.add(transition),
    async lastStates () {
      transitions.flush()
      const rows = read.lastStatesQuery.all() as Array<{ id: string, online: number | null }>
      return new Map(rows.filter(row => row.online !== null).map(row => [row.id, row.online === 1]))
    },
    async series (serverId, step, from, to) {
      const key = keys.get(serverId)
      if (key === undefined) return []
      const rows = read.seriesQueries[step].all(key, ...periods(step, from, to)) as Array<Record<string, number>>
      return rows.map(row => ({ t: row.t! * STEP_MS[step], ...toTally(row) }) satisfies SeriesPoint)
    },
    async totals (step, from, to, serverId) {
      const [first, end] = periods(step, from, to)
      const query = read.totalsQueries[step]
      const rows = (serverId === undefined ? query.all.all(first, end) : query.one.all(first, end, serverId)) as Array<Record<string, number> & { id: string }>
      return new Map(rows.map(row => [row.id, toTally(row)]))
    },
    async incidents (serverId, from, to, limit) {
      transitions.flush()
      const key = keys.get(serverId)
      if (key === undefined) return []
      return read.incidentsQuery.all(key, to, from, limit) as Incident[]
    },
    async diskSeries (serverId, step, from, to) {
      const key = keys.get(serverId)
      if (key === undefined) return []
      const [first, end] = periods(step, from, to)
      const disks = read.disksQuery.all(key) as Array<{ disk: string, source: 'snmp' | 'netapp', name: string, diskIndex: number | null }>
      return disks.map(({ disk, source, name, diskIndex }) => ({
        disk,
        source,
        name,
        ...(diskIndex === null ? {} : { index: diskIndex }),
        points: (read.diskPointQueries[step].all(key, disk, first, end) as DiskSeries['points']).map(point => ({ ...point, t: point.t * STEP_MS[step] }))
      }) satisfies DiskSeries)
    },
    async prune (cutoffs) {
      transitions.flush()
      const all = [...keys.values()]
      for (let i = 0; i < all.length; i += PRUNE_CHUNK) {
        if (!db.open) return
        pruneServers(all.slice(i, i + PRUNE_CHUNK), cutoffs)
        await yieldToLoop()
      }
    },
    async deleteServers (ids) {
      transitions.flush()
      deleteServers(ids)
    },
    async serverIds () { return [...keys.keys()] },
    async close () {
      if (db.open) transitions.flush()
      closeDatabase(db)
    }
  }
}
