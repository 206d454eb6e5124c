import type { ServerConfig } from '../../schemas/config.ts'
import type { ServerStatus } from '../../schemas/status.ts'
import type { DiskReading } from '../../probes/disk-reading.ts'
import { createDiskScheduler, hasDisks, type DiskScheduler } from './disk-scheduler.ts'
import type { Entry, MonitorContext } from './entry.ts'

export interface DisksOptions {
  diskIntervalMs: number
  snmpPort: number
  snmpCommunity: string
  /** HTTPS port of NetApp filers (443). */
  netappPort: number
  /** false: no disk rounds (the app's `monitor: false`). */
  probe?: boolean
}

const IDLE_DISKS: DiskScheduler = { set () {}, remove () {}, close: async () => {} }

/** What a dashboard shows of a disk; a diskUpdate is sent when any of it changes. */
const diskFiguresKey = (disks: ServerStatus['diskInfo']) =>
  JSON.stringify(disks?.map(disk => [disk.source, disk.index, disk.name, disk.total, disk.used, disk.free, disk.percentage]) ?? null)

/** The disk side of the monitor: SNMP disks and NetApp LUNs per server, one diskUpdate per change (SPEC §6.2). */
export function createDisks (ctx: MonitorContext, options: DisksOptions) {
  function publishDisks (entry: Entry, error?: string) {
    const { server, status } = entry
    ctx.publish({
      type: 'diskUpdate',
      update: { serverId: server.id, name: server.name, diskInfo: status.diskInfo, timestamp: new Date().toISOString(), ...(error === undefined ? {} : { error }) }
    })
  }

  /** SNMP disks and NetApp LUNs of a round, reported together. */
  function onRound (server: ServerConfig, readings: DiskReading[]) {
    const entry = ctx.entries.get(server.id)
    if (entry === undefined) return
    const disks = readings.flatMap(reading => (reading.ok ? [reading.disk] : []))
    const errors = new Set(readings.flatMap(reading => (reading.ok ? [] : [reading.error])))
    const error = errors.size > 0 ? [...errors].join('; ') : undefined
    const previous = entry.status.diskInfo
    // null only until the first successful read; afterwards what this round could read.
    const diskInfo = disks.length > 0 || previous !== null ? disks : null
    const changed = diskFiguresKey(previous) !== diskFiguresKey(diskInfo)
    const failingFlipped = (error !== undefined) !== entry.diskFailing
    entry.status.diskInfo = diskInfo
    entry.diskFailing = error !== undefined
    if (changed || failingFlipped) publishDisks(entry, error)
    ctx.emit({ kind: 'disks', serverId: server.id, at: Date.now(), diskInfo, ...(error === undefined ? {} : { error }) })
  }

  const scheduler = (options.probe === false ? () => IDLE_DISKS : createDiskScheduler)({ ...options, intervalMs: options.diskIntervalMs, log: ctx.log, onRound })

  return {
    /** Starts, restarts or leaves alone the rounds of a new or changed server. */
    set (entry: Entry) {
      scheduler.set(entry.server)
      // Also when only failures were ever reported: the dashboard must drop the error.
      if (!hasDisks(entry.server) && (entry.status.diskInfo !== null || entry.diskFailing)) {
        entry.status.diskInfo = null
        entry.diskFailing = false
        publishDisks(entry)
      }
    },
    remove (id: string) { scheduler.remove(id) },
    close: scheduler.close
  }
}
