import { statSync } from 'node:fs'
import Fastify from 'fastify'
import { createSqliteStorage } from '../../plugins/history/sqlite-storage.ts'
import { createRecorder } from '../../plugins/history/recorder.ts'
import { prng } from './prng.ts'

const MINUTE = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000

export interface YearResult {
  bytes: number
  bytesPerServer: number
  seconds: number
}

/**
 * Drives the real recorder and storage through `days` simulated days with an injected
 * clock: one probe result per server per simulated minute (probing every second would give
 * the same rows with slightly larger counts), a 10-minute outage per server per day, one
 * disk reading per hour, writing each hour and pruning each day with the default retention
 * (minutes 48 h, hours 400 d, days forever).
 */
export async function simulateYear (file: string, servers: number, days: number, onDay?: (day: number) => void): Promise<YearResult> {
  const started = process.hrtime.bigint()
  const start = Date.UTC(2025, 0, 1)
  let now = start
  const storage = createSqliteStorage(file)
  const recorder = createRecorder({ storage, clock: () => now, log: Fastify({ logger: false }).log, lastStates: new Map(), chunkSize: 5000 })
  const random = prng(42)
  const ids = Array.from({ length: servers }, (_, i) => `server-${String(i + 1).padStart(3, '0')}`)
  for (const id of ids) recorder.track(id, 4)
  for (let minute = 0; minute < days * 1440; minute++) {
    now = start + minute * MINUTE
    const minuteOfDay = minute % 1440
    ids.forEach((id, i) => {
      const down = minuteOfDay >= (i * 37) % 1430 && minuteOfDay < (i * 37) % 1430 + 10
      recorder.onResult({ kind: 'ping', serverId: id, at: now, alive: !down, isOnline: !down, ...(down ? {} : { rttMs: 0.2 + random() * 3 }) })
      if (minute % 60 === 0) {
        const used = 200_000 + Math.round(minute / 1440 * 150 + random() * 50)
        recorder.onResult({ kind: 'disks', serverId: id, at: now, diskInfo: [{ total: 1_000_000, used, free: 1_000_000 - used, percentage: Math.round(used / 10_000), index: 31, name: '/', source: 'snmp' }] })
      }
    })
    if (minuteOfDay % 360 === 359) await recorder.flush()
    if (minuteOfDay === 1439) {
      await storage.prune({ minutes: now - 48 * HOUR, hours: now - 400 * DAY, days: null, transitions: now - 400 * DAY })
      onDay?.(minute / 1440 + 1)
    }
  }
  await recorder.close()
  const bytes = statSync(file).size
  return { bytes, bytesPerServer: bytes / servers, seconds: Number(process.hrtime.bigint() - started) / 1e9 }
}
