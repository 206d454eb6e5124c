import type pg from 'pg'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { STEP_MS, type DiskRecord, type DiskSeries, type HistoryStorage, type MinuteRecord, type RetentionCutoffs, type Step, type Transition } from './storage.ts'
import { transaction } from '../../lib/pg-transaction.ts'

export const TALLY_TABLES = { '1m': 'history_minutes', '1h': 'history_hours', '1d': 'history_days' } as const
export const DISK_TABLES = { '1h': 'history_disk_hours', '1d': 'history_disk_days' } as const
const SERVER_TABLES = [...Object.values(TALLY_TABLES), 'history_transitions', 'history_disks', ...Object.values(DISK_TABLES)]

// A row holds at most a day: the counts and milliseconds fit `integer`; a day's sum of
// round-trip microseconds does not.
const tallyColumns = 'probes integer NOT NULL, replies integer NOT NULL, rtt_min integer, rtt_sum bigint NOT NULL, ' +
  'rtt_max integer, online_ms integer NOT NULL, monitored_ms integer NOT NULL'

/**
 * The design of the SQLite storage: rows keyed by a small integer per server and the start of
 * their period (epoch ms), disk rows by server, disk and time. Ids and disk keys compare byte
 * by byte (COLLATE "C"), as in SQLite, whatever the database's locale.
 */
export const HISTORY_SCHEMA = `
CREATE TABLE history_servers (key integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text COLLATE "C" NOT NULL UNIQUE);
${Object.values(TALLY_TABLES).map(table => `CREATE TABLE ${table} (server integer NOT NULL, t bigint NOT NULL, ${tallyColumns}, PRIMARY KEY (server, t));`).join('\n')}
CREATE TABLE history_transitions (server integer NOT NULL, at bigint NOT NULL, online boolean NOT NULL, PRIMARY KEY (server, at));
CREATE TABLE history_disks (server integer NOT NULL, disk text COLLATE "C" NOT NULL, source text NOT NULL, name text NOT NULL, disk_index integer, PRIMARY KEY (server, disk));
${Object.values(DISK_TABLES).map(table => `CREATE TABLE ${table} (server integer NOT NULL, disk text COLLATE "C" NOT NULL, t bigint NOT NULL, used_max bigint NOT NULL, total bigint NOT NULL, PRIMARY KEY (server, disk, t));`).join('\n')}
`

/**
 * Adds the servers not known yet. Filtered first: an identity value is drawn for every row
 * offered, conflicting or not, and a write per minute would use up `integer` in a few years.
 * In id order, so that two writers adding the same servers take their locks in one order.
 */
const ENSURE_SERVERS = `INSERT INTO history_servers (id)
  SELECT id FROM unnest($1::text[]) AS input (id) WHERE NOT EXISTS (SELECT FROM history_servers s WHERE s.id = input.id) ORDER BY id
  ON CONFLICT (id) DO NOTHING`
export const ensureServers = (client: pg.PoolClient, ids: string[]) => client.query(ENSURE_SERVERS, [[...new Set(ids)]])

/**
 * Adds the minutes of `input` into the rows of one period, created where missing: a minute
 * written in parts (around a restart) adds up. Summed per row first, as one statement may
 * not update a row twice. least/greatest skip nulls, like the SQLite coalesce(min(…)).
 */
const addTallySql = (table: string, periodMs: number) => `INSERT INTO ${table} AS x (server, t, probes, replies, rtt_min, rtt_sum, rtt_max, online_ms, monitored_ms)
  SELECT server, t / ${periodMs} * ${periodMs}, sum(probes), sum(replies), min(rtt_min), sum(rtt_sum), max(rtt_max), sum(online_ms), sum(monitored_ms)
  FROM input GROUP BY 1, 2
  ON CONFLICT (server, t) DO UPDATE SET
  probes = x.probes + excluded.probes, replies = x.replies + excluded.replies,
  rtt_min = least(x.rtt_min, excluded.rtt_min), rtt_sum = x.rtt_sum + excluded.rtt_sum, rtt_max = greatest(x.rtt_max, excluded.rtt_max),
  online_ms = x.online_ms + excluded.online_ms, monitored_ms = x.monitored_ms + excluded.monitored_ms`
/** Minutes, hours and days in one statement, the minutes sent once. */
const RECORD_TALLIES = `WITH input AS (
    SELECT s.key AS server, r.t, r.probes, r.replies, r.rtt_min, r.rtt_sum, r.rtt_max, r.online_ms, r.monitored_ms
    FROM unnest($1::text[], $2::int8[], $3::int4[], $4::int4[], $5::int4[], $6::int8[], $7::int4[], $8::int4[], $9::int4[])
      AS r (id, t, probes, replies, rtt_min, rtt_sum, rtt_max, online_ms, monitored_ms)
    JOIN history_servers s ON s.id = r.id
  ),
  minutes AS (${addTallySql(TALLY_TABLES['1m'], STEP_MS['1m'])}),
  hours AS (${addTallySql(TALLY_TABLES['1h'], STEP_MS['1h'])})
  ${addTallySql(TALLY_TABLES['1d'], STEP_MS['1d'])}`
const tallyArrays = (minutes: MinuteRecord[]) => [
  minutes.map(row => row.serverId), minutes.map(row => row.t), minutes.map(row => row.probes), minutes.map(row => row.replies),
  minutes.map(row => row.rttMinUs), minutes.map(row => row.rttSumUs), minutes.map(row => row.rttMaxUs),
  minutes.map(row => row.onlineMs), minutes.map(row => row.monitoredMs)
]

/** The largest use per disk and period; the total (and a disk's name) as last reported. */
const maxDiskSql = (table: string, periodMs: number) => `INSERT INTO ${table} AS x (server, disk, t, used_max, total)
  SELECT server, disk, t / ${periodMs} * ${periodMs}, max(used), (array_agg(total ORDER BY n DESC))[1] FROM input GROUP BY 1, 2, 3
  ON CONFLICT (server, disk, t) DO UPDATE SET used_max = greatest(x.used_max, excluded.used_max), total = excluded.total`
const RECORD_DISKS = `WITH input AS (
    SELECT s.key AS server, r.disk, r.source, r.name, r.disk_index, r.t, r.used, r.total, r.n
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::int8[], $7::int8[], $8::int8[]) WITH ORDINALITY
      AS r (id, disk, source, name, disk_index, t, used, total, n)
    JOIN history_servers s ON s.id = r.id
  ),
  disks AS (
    INSERT INTO history_disks (server, disk, source, name, disk_index)
    SELECT DISTINCT ON (server, disk) server, disk, source, name, disk_index FROM input ORDER BY server, disk, n DESC
    ON CONFLICT (server, disk) DO UPDATE SET source = excluded.source, name = excluded.name, disk_index = excluded.disk_index
  ),
  hours AS (${maxDiskSql(DISK_TABLES['1h'], STEP_MS['1h'])})
  ${maxDiskSql(DISK_TABLES['1d'], STEP_MS['1d'])}`
const diskArrays = (disks: DiskRecord[]) => [
  disks.map(row => row.serverId), disks.map(row => row.disk), disks.map(row => row.source), disks.map(row => row.name),
  disks.map(row => row.index ?? null), disks.map(row => row.t), disks.map(row => row.usedMiB), disks.map(row => row.totalMiB)
]

/** A flip recorded twice at the same time: the last one wins (SQLite's INSERT OR REPLACE). */
const RECORD_TRANSITIONS = `INSERT INTO history_transitions AS x (server, at, online)
  SELECT DISTINCT ON (s.key, r.at) s.key, r.at, r.online
  FROM unnest($1::text[], $2::int8[], $3::bool[]) WITH ORDINALITY AS r (id, at, online, n) JOIN history_servers s ON s.id = r.id
  ORDER BY s.key, r.at, r.n DESC
  ON CONFLICT (server, at) DO UPDATE SET online = excluded.online`

// bigint and sums come back as strings from pg: float8 makes them numbers (exact below 2^53).
const TALLY_SELECT = 'probes, replies, rtt_min AS "rttMinUs", rtt_sum::float8 AS "rttSumUs", rtt_max AS "rttMaxUs", online_ms AS "onlineMs", monitored_ms AS "monitoredMs"'
const TALLY_SUMS = 'sum(probes)::float8 AS probes, sum(replies)::float8 AS replies, min(rtt_min) AS "rttMinUs", sum(rtt_sum)::float8 AS "rttSumUs", ' +
  'max(rtt_max) AS "rttMaxUs", sum(online_ms)::float8 AS "onlineMs", sum(monitored_ms)::float8 AS "monitoredMs"'

const SERIES = Object.fromEntries(Object.entries(TALLY_TABLES).map(([step, table]) => [step,
  `SELECT x.t::float8 AS t, ${TALLY_SELECT} FROM history_servers s JOIN ${table} x ON x.server = s.key
  WHERE s.id = $1 AND x.t >= $2 AND x.t < $3 ORDER BY x.t`])) as Record<Step, string>
// Per server a seek of its range by primary key (LATERAL); a range of `t` over all servers
// could otherwise be read as a scan of the whole table.
const TOTALS = Object.fromEntries(Object.entries(TALLY_TABLES).map(([step, table]) => [step,
  `SELECT s.id, x.* FROM history_servers s CROSS JOIN LATERAL (
    SELECT ${TALLY_SUMS} FROM ${table} x WHERE x.server = s.key AND x.t >= $1 AND x.t < $2 GROUP BY x.server) x
  WHERE $3::text IS NULL OR s.id = $3`])) as Record<Step, string>
/** Each flip to offline before `to` with the next flip to online (LATERAL: sought once per row). */
const INCIDENTS = `SELECT d.at::float8 AS start, u."end"::float8 AS "end"
  FROM history_servers s JOIN history_transitions d ON d.server = s.key
  CROSS JOIN LATERAL (SELECT min(u.at) AS "end" FROM history_transitions u WHERE u.server = d.server AND u.online AND u.at > d.at) u
  WHERE s.id = $1 AND NOT d.online AND d.at < $2 AND (u."end" IS NULL OR u."end" > $3)
  ORDER BY d.at DESC LIMIT $4`
const LAST_STATES = `SELECT s.id, (SELECT online FROM history_transitions x WHERE x.server = s.key ORDER BY at DESC LIMIT 1) AS online
  FROM history_servers s`
/** Each disk of the server with its points in range (none: a row of nulls); by disk, then time. */
const DISK_SERIES = Object.fromEntries(Object.entries(DISK_TABLES).map(([step, table]) => [step,
  `SELECT d.disk, d.source, d.name, d.disk_index AS "index", p.t::float8 AS t, p.used_max::float8 AS "usedMiB", p.total::float8 AS "totalMiB"
  FROM history_servers s JOIN history_disks d ON d.server = s.key
  LEFT JOIN LATERAL (SELECT t, used_max, total FROM ${table} x WHERE x.server = d.server AND x.disk = d.disk AND x.t >= $2 AND x.t < $3) p ON true
  WHERE s.id = $1 ORDER BY d.disk, p.t`])) as Record<'1h' | '1d', string>

interface DiskPointRow {
  disk: string
  source: 'snmp' | 'netapp'
  name: string
  index: number | null
  t: number | null
  usedMiB: number
  totalMiB: number
}

/** Rows ordered by disk into one series per disk. */
function diskSeriesOf (rows: DiskPointRow[]): DiskSeries[] {
  const series: DiskSeries[] = []
  for (const { disk, source, name, index, t, usedMiB, totalMiB } of rows) {
    let last = series.at(-1)
    if (last?.disk !== disk) {
      last = { disk, source, name, ...(index === null ? {} : { index }), points: [] }
      series.push(last)
    }
    if (t !== null) last.points.push({ t, usedMiB, totalMiB })
  }
  return series
}

/** Servers per transaction when pruning: each is a few index seeks, so a chunk takes milliseconds. */
const PRUNE_CHUNK = 200

/**
 * Old disk rows of some servers. The key is (server, disk, t): naming the disks seeks each
 * disk's old rows; `server = … AND t < …` alone reads every row the servers have.
 */
const pruneDisksSql = (table: string) => `DELETE FROM ${table} x USING history_disks d
  WHERE d.server = ANY($1) AND x.server = d.server AND x.disk = d.disk AND x.t < $2`
const PRUNES = {
  minutes: `DELETE FROM ${TALLY_TABLES['1m']} WHERE server = ANY($1) AND t < $2`,
  hours: `DELETE FROM ${TALLY_TABLES['1h']} WHERE server = ANY($1) AND t < $2`,
  diskHours: pruneDisksSql(DISK_TABLES['1h']),
  days: `DELETE FROM ${TALLY_TABLES['1d']} WHERE server = ANY($1) AND t < $2`,
  diskDays: pruneDisksSql(DISK_TABLES['1d']),
  transitions: 'DELETE FROM history_transitions WHERE server = ANY($1) AND at < $2'
}

/** The start of the first period not wholly before `time`: rows starting before it go. */
const periodCutoff = (time: number, step: Step) => Math.floor(time / STEP_MS[step]) * STEP_MS[step]

async function pruneServers (client: pg.PoolClient, keys: number[], cutoffs: RetentionCutoffs) {
  const hours = periodCutoff(cutoffs.hours, '1h')
  await client.query(PRUNES.minutes, [keys, periodCutoff(cutoffs.minutes, '1m')])
  await client.query(PRUNES.hours, [keys, hours])
  await client.query(PRUNES.diskHours, [keys, hours])
  await client.query(PRUNES.transitions, [keys, Math.ceil(cutoffs.transitions)])
  if (cutoffs.days !== null) {
    const days = periodCutoff(cutoffs.days, '1d')
    await client.query(PRUNES.days, [keys, days])
    await client.query(PRUNES.diskDays, [keys, days])
  }
}

/**
 * The transitions asked for in one turn of the event loop, written in one statement (a storm
 * of 1,000 flips is one commit, as with SQLite's write batches); each caller resolves once
 * its batch is written. Batches are written one after the other, in order.
 */
function transitionBatches (write: (batch: Transition[]) => Promise<unknown>) {
  let waiting: Transition[] = []
  /** The batch still taking transitions, and the last one begun. */
  let next: Promise<void> | null = null
  let last: Promise<void> = Promise.resolve()
  async function writeWaiting () {
    const batch = waiting
    waiting = []
    next = null
    await write(batch)
  }
  return {
    add (transition: Transition): Promise<void> {
      waiting.push(transition)
      if (next === null) {
        next = last.catch(() => {}).then(yieldToLoop).then(writeWaiting)
        last = next
      }
      return next
    },
    /** Resolves once what was added so far is written (or failed: its callers hear of it). */
    settled: () => last.catch(() => {})
  }
}

/**
 * SPEC §12: the history in PostgreSQL (tables of HISTORY_SCHEMA), answering as the SQLite
 * storage does. No state besides the pool (the caller's, left open by `close`), so any node
 * of the cluster may write and read.
 */
export function createPgHistoryStorage (pool: pg.Pool): HistoryStorage {
  let closed = false
  const transitions = transitionBatches(batch => transaction(pool, async client => {
    await ensureServers(client, batch.map(row => row.serverId))
    await client.query(RECORD_TRANSITIONS, [batch.map(row => row.serverId), batch.map(row => row.at), batch.map(row => row.online)])
  }))

  return {
    async record (minutes, disks) {
      if (minutes.length === 0 && disks.length === 0) return
      await transaction(pool, async client => {
        await ensureServers(client, [...minutes, ...disks].map(row => row.serverId))
        if (minutes.length > 0) await client.query(RECORD_TALLIES, tallyArrays(minutes))
        if (disks.length > 0) await client.query(RECORD_DISKS, diskArrays(disks))
      })
    },
    recordTransition: transition => transitions.add(transition),
    async lastStates () {
      await transitions.settled()
      const { rows } = await pool.query<{ id: string, online: boolean | null }>(LAST_STATES)
      return new Map(rows.filter(row => row.online !== null).map(row => [row.id, row.online!]))
    },
    async series (serverId, step, from, to) {
      return (await pool.query(SERIES[step], [serverId, Math.ceil(from), Math.ceil(to)])).rows
    },
    async totals (step, from, to, serverId) {
      const { rows } = await pool.query(TOTALS[step], [Math.ceil(from), Math.ceil(to), serverId ?? null])
      return new Map(rows.map(({ id, ...tally }) => [id, tally]))
    },
    async incidents (serverId, from, to, limit) {
      await transitions.settled()
      return (await pool.query(INCIDENTS, [serverId, Math.ceil(to), Math.floor(from), limit])).rows
    },
    async diskSeries (serverId, step, from, to) {
      return diskSeriesOf((await pool.query<DiskPointRow>(DISK_SERIES[step], [serverId, Math.ceil(from), Math.ceil(to)])).rows)
    },
    async prune (cutoffs) {
      await transitions.settled()
      const { rows } = await pool.query<{ key: number }>('SELECT key FROM history_servers ORDER BY key')
      const keys = rows.map(row => row.key)
      for (let i = 0; i < keys.length; i += PRUNE_CHUNK) {
        if (closed) return
        await transaction(pool, client => pruneServers(client, keys.slice(i, i + PRUNE_CHUNK), cutoffs))
      }
    },
    async deleteServers (ids) {
      await transitions.settled()
      await transaction(pool, async client => {
        const { rows } = await client.query<{ key: number }>('DELETE FROM history_servers WHERE id = ANY($1) RETURNING key', [ids])
        const keys = rows.map(row => row.key)
        for (const table of SERVER_TABLES) await client.query(`DELETE FROM ${table} WHERE server = ANY($1)`, [keys])
      })
    },
    async serverIds () {
      return (await pool.query<{ id: string }>('SELECT id FROM history_servers ORDER BY key')).rows.map(row => row.id)
    },
    async close () {
      closed = true
      await transitions.settled()
    }
  }
}
