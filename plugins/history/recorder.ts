import type { FastifyBaseLogger } from 'fastify'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { MonitorResult } from '../monitor/index.ts'
import { STEP_MS, diskKey, emptyTally, type DiskRecord, type HistoryStorage, type MinuteRecord, type Tally } from './storage.ts'

export type Clock = () => number

/** A server's state as history knows it: unknown until the monitor's state machine has decided. */
type State = 'unknown' | 'online' | 'offline'

interface Tracked {
  id: string
  /** Failures in a row that make the monitor call a server offline (its threshold). */
  failuresToOffline: number
  state: State
  failuresInRow: number
  /** The last state written as a transition (or first learned), to write only real flips. */
  lastState: boolean | undefined
  /** Time is accounted up to here. */
  since: number
  minuteStart: number
  /** The current minute, not yet written. */
  tally: Tally
}

export interface Recorder {
  /** Starts accounting a server from now, its state unknown until the monitor decides. */
  track (id: string, failuresToOffline: number): void
  /** Its target changed: what was known says nothing about the new one. */
  reset (id: string, failuresToOffline: number): void
  /** Stops accounting a server and removes its rows. */
  forget (ids: string[]): Promise<void>
  onResult (result: MonitorResult): void
  /** Writes every completed minute (and the disk maxima) in short transactions. */
  flush (): Promise<void>
  /** Minute tallies not in storage yet (the current minutes included), for the queries. */
  unwritten (serverId?: string): MinuteRecord[]
  /** Writes everything, the current partial minutes included (the storage stays open: its owner closes it). */
  close (): Promise<void>
}

export interface RecorderOptions {
  storage: HistoryStorage
  clock: Clock
  log: FastifyBaseLogger
  /** Each server's last recorded state, so a restart does not write a flip that did not happen. */
  lastStates: Map<string, boolean>
  /** Minute rows per transaction: small, so the event loop is never held long. */
  chunkSize?: number
}

const isEmpty = (tally: Tally) => tally.probes === 0 && tally.monitoredMs === 0
const minuteOf = (time: number) => Math.floor(time / STEP_MS['1m']) * STEP_MS['1m']
type PingResult = Extract<MonitorResult, { kind: 'ping' }>

function closeMinute (server: Tracked, closed: MinuteRecord[]) {
  const { tally } = server
  if (isEmpty(tally)) return
  // Field by field: one object shape for every row (a spread makes slower ones).
  closed.push({
    serverId: server.id,
    t: server.minuteStart,
    probes: tally.probes,
    replies: tally.replies,
    rttMinUs: tally.rttMinUs,
    rttSumUs: tally.rttSumUs,
    rttMaxUs: tally.rttMaxUs,
    onlineMs: tally.onlineMs,
    monitoredMs: tally.monitoredMs
  })
  server.tally = emptyTally()
}

/** Accounts the time up to `now`: monitored while the state is known, online while online; completed minutes go to `closed`. */
function advance (server: Tracked, now: number, closed: MinuteRecord[]) {
  if (server.state === 'unknown' && isEmpty(server.tally) && now >= server.minuteStart + STEP_MS['1m']) {
    server.minuteStart = minuteOf(now)
    server.since = Math.max(server.since, now)
    return
  }
  while (server.since < now) {
    const minuteEnd = server.minuteStart + STEP_MS['1m']
    const end = Math.min(now, minuteEnd)
    if (server.state !== 'unknown') {
      server.tally.monitoredMs += end - server.since
      if (server.state === 'online') server.tally.onlineMs += end - server.since
    }
    server.since = end
    if (end === minuteEnd) {
      closeMinute(server, closed)
      server.minuteStart = minuteEnd
      if (server.state === 'unknown') return advance(server, now, closed)
    }
  }
}

function countProbe (tally: Tally, result: PingResult) {
  tally.probes++
  if (!result.alive) return
  tally.replies++
  if (result.rttMs === undefined) return
  const rttUs = Math.round(result.rttMs * 1000)
  tally.rttSumUs += rttUs
  tally.rttMinUs = tally.rttMinUs === null ? rttUs : Math.min(tally.rttMinUs, rttUs)
  tally.rttMaxUs = tally.rttMaxUs === null ? rttUs : Math.max(tally.rttMaxUs, rttUs)
}

/** Keeps each disk's largest use per hour. */
function addDiskReading (maxima: Map<string, DiskRecord>, serverId: string, result: Extract<MonitorResult, { kind: 'disks' }>) {
  const hour = Math.floor(result.at / STEP_MS['1h']) * STEP_MS['1h']
  for (const disk of result.diskInfo ?? []) {
    const key = diskKey(disk)
    const id = `${serverId}\n${key}\n${hour}`
    const known = maxima.get(id)
    maxima.set(id, {
      serverId,
      disk: key,
      source: disk.source,
      name: disk.name ?? disk.description ?? key,
      ...(disk.index === undefined ? {} : { index: disk.index }),
      t: hour,
      usedMiB: Math.max(known?.usedMiB ?? 0, disk.used),
      totalMiB: disk.total
    })
  }
}

function newTracked (id: string, failuresToOffline: number, lastState: boolean | undefined, now: number): Tracked {
  return { id, failuresToOffline, state: 'unknown', failuresInRow: 0, lastState, since: now, minuteStart: minuteOf(now), tally: emptyTally() }
}

export function createRecorder (options: RecorderOptions): Recorder {
  const { storage, clock, log } = options
  const lastStates = new Map(options.lastStates)
  const chunkSize = options.chunkSize ?? 250
  const tracked = new Map<string, Tracked>()
  let closedMinutes: MinuteRecord[] = []
  let diskMaxima = new Map<string, DiskRecord>()
  /** The batch being written, and how much of it is written. */
  let writing: MinuteRecord[] = []
  let written = 0
  let flushing: Promise<void> = Promise.resolve()

  function setState (server: Tracked, state: Exclude<State, 'unknown'>, at: number) {
    server.state = state
    server.failuresInRow = 0
    const online = state === 'online'
    // A server first seen online has no incident to end; first seen offline, one starts.
    if (server.lastState !== online && !(server.lastState === undefined && online)) {
      storage.recordTransition({ serverId: server.id, at, online }).catch(err => log.error({ err }, 'could not write a transition'))
    }
    server.lastState = online
  }

  function onPing (server: Tracked, result: PingResult) {
    countProbe(server.tally, result)
    if (result.isOnline) {
      if (server.state !== 'online') setState(server, 'online', result.at)
    } else if (server.state === 'online') {
      setState(server, 'offline', result.at)
    } else if (server.state === 'unknown') {
      server.failuresInRow = result.alive ? 0 : server.failuresInRow + 1
      if (server.failuresInRow >= server.failuresToOffline) setState(server, 'offline', result.at)
    }
  }

  /** Takes what is ready to be written; rows of servers forgotten meanwhile are dropped at write time. */
  async function writeOut (minutes: MinuteRecord[], disks: DiskRecord[]) {
    writing = minutes
    written = 0
    try {
      for (let i = 0; i === 0 || i < minutes.length; i += chunkSize) {
        const chunk = minutes.slice(i, i + chunkSize).filter(row => tracked.has(row.serverId))
        const diskChunk = i === 0 ? disks.filter(row => tracked.has(row.serverId)) : []
        if (chunk.length > 0 || diskChunk.length > 0) await storage.record(chunk, diskChunk)
        written = Math.min(minutes.length, i + chunkSize)
        if (i + chunkSize < minutes.length) await yieldToLoop()
      }
    } finally {
      writing = []
      written = 0
    }
  }

  /** Writes the completed minutes (with `withCurrent`, the current partial ones too) and the disk maxima. */
  function writeReady (withCurrent: boolean) {
    return serialized(async () => {
      const now = clock()
      for (const server of tracked.values()) {
        advance(server, now, closedMinutes)
        if (withCurrent) closeMinute(server, closedMinutes)
      }
      const [minutes, disks] = [closedMinutes, [...diskMaxima.values()]]
      closedMinutes = []
      diskMaxima = new Map()
      await writeOut(minutes, disks)
    })
  }

  function serialized (task: () => Promise<void>): Promise<void> {
    flushing = flushing.then(task).catch(err => log.error({ err }, 'could not write history'))
    return flushing
  }

  return {
    track (id, failuresToOffline) {
      if (!tracked.has(id)) tracked.set(id, newTracked(id, failuresToOffline, lastStates.get(id), clock()))
    },
    reset (id, failuresToOffline) {
      const server = tracked.get(id)
      if (server === undefined) return this.track(id, failuresToOffline)
      advance(server, clock(), closedMinutes)
      server.failuresToOffline = failuresToOffline
      server.state = 'unknown'
      server.failuresInRow = 0
    },
    async forget (ids) {
      for (const id of ids) {
        tracked.delete(id)
        lastStates.delete(id)
      }
      await serialized(() => storage.deleteServers(ids))
    },
    onResult (result) {
      const server = tracked.get(result.serverId)
      if (server === undefined) return
      advance(server, Math.max(server.since, result.at), closedMinutes)
      if (result.kind === 'ping') onPing(server, result)
      else addDiskReading(diskMaxima, server.id, result)
    },
    flush: () => writeReady(false),
    unwritten (serverId) {
      const now = clock()
      const servers = serverId === undefined ? [...tracked.values()] : [tracked.get(serverId)].filter(server => server !== undefined)
      for (const server of servers) advance(server, now, closedMinutes)
      const current = servers.filter(server => !isEmpty(server.tally)).map(server => ({ serverId: server.id, t: server.minuteStart, ...server.tally }))
      const pending = [...writing.slice(written), ...closedMinutes]
      return [...(serverId === undefined ? pending : pending.filter(row => row.serverId === serverId)), ...current]
    },
    async close () {
      await writeReady(true)
      tracked.clear()
    }
  }
}
