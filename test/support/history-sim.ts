import Database from 'better-sqlite3'
import { statSync } from 'node:fs'
import Fastify from 'fastify'
import { createSqliteStorage } from '../../plugins/history/sqlite-storage.ts'
import { createRecorder } from '../../plugins/history/recorder.ts'
import { addTally, emptyTally, type HistoryStorage, type MinuteRecord } from '../../plugins/history/storage.ts'
import { prng } from './prng.ts'

const MINUTE = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000
/** What the app prunes with by default: minutes 48 h, hours (and transitions) 400 d, days forever. */
const RETENTION = { minutesMs: 48 * HOUR, hoursMs: 400 * DAY }
/** How often the simulation prunes, in simulated minutes; it writes once a simulated day. */
const PRUNE_MINUTES = 360

export interface YearOptions {
  servers: number
  days: number
  /**
   * Probe results per server per simulated minute: 60 is 1 s probing and gives the rows their
   * real sizes (counts and sums take a byte or two more than at 1); 1 is 60 times cheaper.
   */
  probesPerMinute?: number
  /**
   * The last days whose minute rows are written one per minute (default 3: more than the 48 h
   * of minutes the file keeps, plus a prune cycle). Before them, each hour's minute rows of a
   * server are summed into one row before they reach storage: the same hours, days, disks and
   * transitions, 60 times fewer rows that retention would delete 48 h later anyway. `days`
   * writes every minute (the reference the shortcut is checked against).
   */
  minuteDays?: number
  /**
   * After each simulated day, with the size of the database then: its pages, what the file
   * holds once the WAL (at most 4 MiB, whatever the servers) is checkpointed into it.
   */
  onDay?: (day: number, bytes: number) => void
}

export interface YearResult {
  /** The file and its WAL at the end, after the last prune. */
  bytes: number
  /** Of these, pages free for reuse (the pages of pruned rows). */
  freeBytes: number
  /** After a VACUUM: what the rows themselves take. */
  vacuumedBytes: number
  /** Bytes per table (and index) at the end, before the VACUUM. */
  tables: Record<string, number>
  seconds: number
  /** This process' CPU time: steadier than `seconds` on a shared machine. */
  cpuSeconds: number
}

const fileBytes = (file: string) => ['', '-wal'].reduce((sum, suffix) => {
  try { return sum + statSync(file + suffix).size } catch { return sum }
}, 0)
const cpuSeconds = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1e6 }

/** Sums each server's minute rows per hour (the hour's start as their time); rows come in time order. */
function perHour (minutes: MinuteRecord[]): MinuteRecord[] {
  const hours: MinuteRecord[] = []
  const current = new Map<string, MinuteRecord>()
  for (const minute of minutes) {
    const t = Math.floor(minute.t / HOUR) * HOUR
    let hour = current.get(minute.serverId)
    if (hour?.t !== t) {
      hour = { serverId: minute.serverId, t, ...emptyTally() }
      current.set(minute.serverId, hour)
      hours.push(hour)
    }
    addTally(hour, minute)
  }
  return hours
}

/**
 * Drives the real recorder and SQLite storage through `days` simulated days with an injected
 * clock. Each server answers `probesPerMinute` probes a minute, with a 10-minute outage a day
 * (two transitions), and reports one disk an hour. The recorder writes once a simulated day
 * (in one transaction; the app writes each minute, the rows are the same) and old rows are
 * pruned every 6 simulated hours with the default retention (the app prunes every 10
 * minutes: at its peak this file holds up to 6 h more minutes than the app's would).
 */
export async function simulateYear (file: string, options: YearOptions): Promise<YearResult> {
  const { servers, days, probesPerMinute = 1, minuteDays = 3, onDay } = options
  const [started, cpuStarted] = [performance.now(), cpuSeconds()]
  const start = Date.UTC(2025, 0, 1)
  let now = start
  const storage = createSqliteStorage(file)
  const minutesFrom = start + (days - minuteDays) * DAY
  const written: HistoryStorage = {
    ...storage,
    record: (minutes, disks) => storage.record([...perHour(minutes.filter(row => row.t < minutesFrom)), ...minutes.filter(row => row.t >= minutesFrom)], disks)
  }
  const recorder = createRecorder({
    storage: written,
    clock: () => now,
    log: Fastify({ logger: false }).log,
    lastStates: new Map(),
    chunkSize: servers * 1440
  })
  const random = prng(42)
  const ids = Array.from({ length: servers }, (_, i) => `server-${String(i + 1).padStart(3, '0')}`)
  const outageStarts = ids.map((_, i) => (i * 37) % 1430)
  for (const id of ids) recorder.track(id, 4)
  // A reader of its own, as an operator's would be: it sees the committed pages, WAL included.
  const reader = new Database(file, { readonly: true })
  const pages = () => (reader.pragma('page_count', { simple: true }) as number) * (reader.pragma('page_size', { simple: true }) as number)
  const probeSpacing = MINUTE / probesPerMinute
  for (let minute = 0; minute < days * 1440; minute++) {
    const minuteStart = start + minute * MINUTE
    const minuteOfDay = minute % 1440
    for (let probe = 0; probe < probesPerMinute; probe++) {
      const at = minuteStart + probe * probeSpacing
      now = at
      for (let i = 0; i < servers; i++) {
        const down = minuteOfDay >= outageStarts[i]! && minuteOfDay < outageStarts[i]! + 10
        recorder.onResult(down
          ? { kind: 'ping', serverId: ids[i]!, at, alive: false, isOnline: false }
          : { kind: 'ping', serverId: ids[i]!, at, alive: true, isOnline: true, rttMs: 0.2 + random() * 3 })
      }
    }
    if (minute % 60 === 0) {
      for (const id of ids) {
        const used = 200_000 + Math.round(minute / 1440 * 150 + random() * 50)
        recorder.onResult({ kind: 'disks', serverId: id, at: minuteStart, diskInfo: [{ total: 1_000_000, used, free: 1_000_000 - used, percentage: Math.round(used / 10_000), index: 31, name: '/', source: 'snmp' }] })
      }
    }
    if ((minute + 1) % PRUNE_MINUTES === 0) {
      // The minute just simulated is over.
      now = minuteStart + MINUTE
      if (minuteOfDay === 1439) await recorder.flush()
      await storage.prune({ minutes: now - RETENTION.minutesMs, hours: now - RETENTION.hoursMs, days: null, transitions: now - RETENTION.hoursMs })
      if (minuteOfDay === 1439) onDay?.(Math.floor(minute / 1440) + 1, pages())
    }
  }
  reader.close()
  await recorder.close()
  await storage.close()
  const [seconds, cpu] = [(performance.now() - started) / 1000, cpuSeconds() - cpuStarted]

  const db = new Database(file)
  try {
    const bytes = fileBytes(file)
    const pageSize = db.pragma('page_size', { simple: true }) as number
    const freeBytes = (db.pragma('freelist_count', { simple: true }) as number) * pageSize
    const rows = db.prepare('SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC').all() as Array<{ name: string, bytes: number }>
    db.exec('VACUUM')
    db.pragma('wal_checkpoint(TRUNCATE)')
    return { bytes, freeBytes, vacuumedBytes: fileBytes(file), tables: Object.fromEntries(rows.map(row => [row.name, row.bytes])), seconds, cpuSeconds: cpu }
  } finally {
    db.close()
  }
}
