import fp from 'fastify-plugin'
import { isIP } from 'node:net'
import type { ServerConfig } from '../schemas/config.ts'
import type { DiskInfo, ServerStatus } from '../schemas/status.ts'
import type { ChangeSet } from '../lib/config-store.ts'
import { createResolver } from '../lib/resolver.ts'
import { createPinger, effectivePingTimeout, type PingResult } from '../probes/fping.ts'
import type { DiskReading } from '../probes/snmp-disks.ts'
import { createDiskScheduler, hasDisks } from '../lib/disk-scheduler.ts'

export interface ProbeCheck { ok: boolean, error?: string }

/** One probe outcome, after the state machine handled it (INTERFACES.md item 2). */
export type MonitorResult =
  | { kind: 'ping', serverId: string, at: number /* epoch ms */, alive: boolean, rttMs?: number, isOnline: boolean }
  | { kind: 'disks', serverId: string, at: number, diskInfo: DiskInfo[] | null, error?: string }

/** The current state of every configured server (SPEC §3.6). */
export interface Monitor {
  /** Every server's status, in configuration order. */
  statuses (): ServerStatus[]
  status (id: string): ServerStatus | undefined
  health (): { icmp: ProbeCheck, snmp: ProbeCheck }
  /** Every probe result; a throwing listener is logged and never breaks the monitor. */
  onResult (listener: (result: MonitorResult) => void): () => void
  /** fping processes restarted after they ended unasked. */
  fpingRestarts (): number
}

declare module 'fastify' {
  interface FastifyInstance {
    monitor: Monitor
  }
}

export interface MonitorOptions {
  pingIntervalMs: number
  pingTimeoutMs: number
  /** Default consecutive successes / failures to flip a server online / offline. */
  threshold: number
  fpingPath?: string
  diskIntervalMs: number
  snmpPort: number
  snmpCommunity: string
  /** HTTPS port of NetApp filers (443). */
  netappPort: number
}

const COUNTER_CAP = 1000

interface Entry {
  server: ServerConfig
  status: ServerStatus
  /** The probe target's address; null while a name is unresolved. */
  address: string | null
  /** Whether the last disk round had a failure (diskUpdate is sent once when this flips). */
  diskFailing: boolean
}

/** What a dashboard shows of a disk; a diskUpdate is sent when any of it changes. */
const diskFiguresKey = (disks: ServerStatus['diskInfo']) =>
  JSON.stringify(disks?.map(disk => [disk.source, disk.index, disk.name, disk.total, disk.used, disk.free, disk.percentage]) ?? null)

export default fp<MonitorOptions>(async function monitorPlugin (fastify, options) {
  const store = fastify.configStore
  const bus = fastify.eventBus
  const log = fastify.log.child({ plugin: 'monitor' })
  const resolver = createResolver()
  const entries = new Map<string, Entry>()
  const byAddress = new Map<string, Set<Entry>>()
  let icmpError: string | null = null
  const resultListeners = new Set<(result: MonitorResult) => void>()

  function emitResult (result: MonitorResult) {
    for (const listener of resultListeners) {
      try {
        listener(result)
      } catch (err) {
        log.error({ err }, 'a probe result listener failed')
      }
    }
  }

  const threshold = (server: ServerConfig, kind: 'consecutiveSuccesses' | 'consecutiveFailures') => server[kind] ?? options.threshold

  function setOnline (entry: Entry, isOnline: boolean, timestamp: string) {
    const { status, server } = entry
    status.isOnline = isOnline
    status.lastStatusChange = timestamp
    bus.publish({
      type: 'statusChange',
      update: { serverId: server.id, name: server.name, ip: server.ip, isOnline, previousStatus: !isOnline, timestamp }
    })
  }

  /** One probe outcome through the state machine of SPEC §6.1; only a flip is published. */
  function record (entry: Entry, alive: boolean, detail: { rttMs?: number, error?: string }) {
    const { status, server } = entry
    const timestamp = new Date().toISOString()
    status.lastChecked = timestamp
    if (alive) {
      status.consecutiveSuccesses = Math.min(COUNTER_CAP, status.consecutiveSuccesses + 1)
      status.consecutiveFailures = 0
      if (detail.rttMs !== undefined) status.responseTimeMs = detail.rttMs
      delete status.lastError
      if (!status.isOnline && status.consecutiveSuccesses >= threshold(server, 'consecutiveSuccesses')) setOnline(entry, true, timestamp)
    } else {
      status.consecutiveFailures = Math.min(COUNTER_CAP, status.consecutiveFailures + 1)
      status.consecutiveSuccesses = 0
      delete status.responseTimeMs
      status.lastError = detail.error ?? 'no reply'
      if (status.isOnline && status.consecutiveFailures >= threshold(server, 'consecutiveFailures')) setOnline(entry, false, timestamp)
    }
  }

  function onPing (result: PingResult) {
    const targets = byAddress.get(result.address)
    if (targets === undefined) return
    const error = result.alive ? undefined : `no ICMP echo reply from ${result.address} within ${pingTimeout} ms`
    for (const entry of targets) {
      record(entry, result.alive, { rttMs: result.rttMs, error })
      if (resultListeners.size > 0) {
        emitResult({ kind: 'ping', serverId: entry.server.id, at: result.at, alive: result.alive, ...(result.rttMs === undefined ? {} : { rttMs: result.rttMs }), isOnline: entry.status.isOnline })
      }
    }
  }

  const pinger = createPinger({
    intervalMs: options.pingIntervalMs,
    timeoutMs: options.pingTimeoutMs,
    fpingPath: options.fpingPath,
    log,
    onResult: onPing,
    onAvailability (error) {
      icmpError = error
      // The prober has logged it; every status says it too.
      if (error !== null) for (const entry of entries.values()) entry.status.lastError = error
    }
  })
  const pingTimeout = effectivePingTimeout(options.pingIntervalMs, options.pingTimeoutMs)

  // ---- probe targets ----------------------------------------------------------------
  let targetsDirty = false
  /** Coalesces the target updates of one tick (an import adds a thousand servers at once). */
  function targetsChanged () {
    if (targetsDirty) return
    targetsDirty = true
    setImmediate(() => {
      targetsDirty = false
      pinger.setTargets(byAddress.keys())
    })
  }

  function setAddress (entry: Entry, address: string | null) {
    if (entry.address === address) return
    if (entry.address !== null) {
      const set = byAddress.get(entry.address)
      set?.delete(entry)
      if (set?.size === 0) byAddress.delete(entry.address)
    }
    entry.address = address
    if (address !== null) {
      const set = byAddress.get(address) ?? new Set()
      set.add(entry)
      byAddress.set(address, set)
    }
    targetsChanged()
  }

  async function resolveTarget (entry: Entry) {
    const name = entry.server.dnsAddress
    const result = await resolver.resolve(name)
    if (entries.get(entry.server.id) !== entry || entry.server.dnsAddress !== name) return
    if ('address' in result) setAddress(entry, result.address)
    else { setAddress(entry, null); entry.status.lastError = result.error }
  }

  // Names are looked up again when their cache entry expires; an unresolvable name counts
  // as a failed probe every interval, so the server goes (and stays) offline.
  const nameTimer = setInterval(() => {
    for (const entry of entries.values()) {
      if (isIP(entry.server.dnsAddress)) continue
      if (entry.address === null) record(entry, false, { error: entry.status.lastError ?? `cannot resolve ${entry.server.dnsAddress}` })
      void resolveTarget(entry)
    }
  }, options.pingIntervalMs)
  nameTimer.unref()

  // ---- disks ------------------------------------------------------------------------
  function publishDisks (entry: Entry, error?: string) {
    const { server, status } = entry
    bus.publish({
      type: 'diskUpdate',
      update: { serverId: server.id, name: server.name, diskInfo: status.diskInfo, timestamp: new Date().toISOString(), ...(error === undefined ? {} : { error }) }
    })
  }

  /** SNMP disks and NetApp LUNs of a round, reported together (SPEC §6.2). */
  function onDiskRound (server: ServerConfig, readings: DiskReading[]) {
    const entry = entries.get(server.id)
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
    emitResult({ kind: 'disks', serverId: server.id, at: Date.now(), diskInfo, ...(error === undefined ? {} : { error }) })
  }

  const disks = createDiskScheduler({
    intervalMs: options.diskIntervalMs,
    snmpPort: options.snmpPort,
    snmpCommunity: options.snmpCommunity,
    netappPort: options.netappPort,
    log,
    onRound: onDiskRound
  })

  // ---- configuration deltas -----------------------------------------------------------
  function newStatus (server: ServerConfig): ServerStatus {
    const now = new Date().toISOString()
    const status: ServerStatus = {
      id: server.id,
      name: server.name,
      ip: server.ip,
      isOnline: false,
      consecutiveSuccesses: 0,
      consecutiveFailures: 0,
      lastChecked: now,
      lastStatusChange: now,
      diskInfo: null
    }
    if (icmpError !== null) status.lastError = icmpError
    return status
  }

  function add (server: ServerConfig) {
    const entry: Entry = { server, status: newStatus(server), address: null, diskFailing: false }
    entries.set(server.id, entry)
    void resolveTarget(entry)
    disks.set(server)
  }

  function remove (id: string) {
    const entry = entries.get(id)
    if (entry === undefined) return
    setAddress(entry, null)
    disks.remove(id)
    entries.delete(id)
  }

  function update (before: ServerConfig, after: ServerConfig) {
    const entry = entries.get(after.id)
    if (entry === undefined) return add(after)
    entry.server = after
    entry.status.name = after.name
    entry.status.ip = after.ip
    if (before.dnsAddress !== after.dnsAddress) {
      // Another target: what was known about the old one says nothing about it.
      const wasOnline = entry.status.isOnline
      entry.status = { ...newStatus(after), diskInfo: entry.status.diskInfo }
      if (wasOnline) setOnline(entry, false, entry.status.lastStatusChange)
      setAddress(entry, null)
      void resolveTarget(entry)
    }
    // New thresholds apply from the next probe result; counters are kept.
    disks.set(after)
    // Also when only failures were ever reported: the dashboard must drop the error.
    if (!hasDisks(after) && (entry.status.diskInfo !== null || entry.diskFailing)) {
      entry.status.diskInfo = null
      entry.diskFailing = false
      publishDisks(entry)
    }
  }

  function applyChanges (changes: ChangeSet) {
    for (const server of changes.serversAdded) add(server)
    for (const { before, after } of changes.serversUpdated) update(before, after)
    for (const server of changes.serversRemoved) remove(server.id)
  }

  for (const server of store.servers()) add(server)
  const unsubscribe = store.onChange(applyChanges)

  const monitor: Monitor = {
    statuses: () => store.servers().flatMap(server => {
      const entry = entries.get(server.id)
      return entry ? [{ ...entry.status }] : []
    }),
    status (id) {
      const entry = entries.get(id)
      return entry && { ...entry.status }
    },
    // SNMP is spoken by a library in this process: nothing to be missing. A target that
    // does not answer is that server's problem, reported in its diskUpdate.
    health: () => ({ icmp: icmpError === null ? { ok: true } : { ok: false, error: icmpError }, snmp: { ok: true } }),
    onResult (listener) {
      resultListeners.add(listener)
      return () => { resultListeners.delete(listener) }
    },
    fpingRestarts: () => pinger.restarts
  }
  fastify.decorate('monitor', monitor)

  fastify.addHook('onClose', async () => {
    unsubscribe()
    resultListeners.clear()
    clearInterval(nameTimer)
    // Aborts the disk rounds in flight; both settle together.
    await Promise.all([disks.close(), pinger.close()])
  })
}, {
  name: 'estatus-monitor',
  fastify: '5.x',
  dependencies: ['estatus-config-store', 'estatus-event-bus']
})
