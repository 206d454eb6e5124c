import type { FastifyBaseLogger } from 'fastify'
import type { ServerConfig } from '../../schemas/config.ts'
import type { DiskReading } from '../../probes/disk-reading.ts'
import { readSnmpDisks } from '../../probes/snmp-disks.ts'
import { readNetappLuns } from '../../probes/netapp/index.ts'
import { redactCredentials } from '../../probes/redact.ts'

export interface DiskSchedulerOptions {
  intervalMs: number
  snmpPort: number
  /** The community of servers that set none. */
  snmpCommunity: string
  netappPort: number
  log: FastifyBaseLogger
  /** One call per completed round of one server: SNMP disks first, then NetApp LUNs, in configured order. */
  onRound (server: ServerConfig, readings: DiskReading[]): void
}

export interface DiskScheduler {
  /** Starts, restarts (when what is read changed) or leaves alone the rounds of this server. */
  set (server: ServerConfig): void
  remove (id: string): void
  /** Stops every schedule, aborts the rounds in flight and resolves once they have let go of their sockets. */
  close (): Promise<void>
}

/** What a disk round depends on; a change of anything else leaves a running schedule alone. */
const diskTarget = (server: ServerConfig) => JSON.stringify([server.dnsAddress, server.snmp, server.netapp])

export const hasDisks = (server: ServerConfig) =>
  (server.snmp?.enabled === true && server.snmp.disks.length > 0) || server.netapp?.enabled === true

interface Schedule {
  server: ServerConfig
  target: string
  timer: NodeJS.Timeout | null
  /** Aborted when the schedule stops: the round in flight lets go of its sockets at once. */
  controller: AbortController
}

/**
 * Every server with disks gets its own loop: a round, then the next one an interval after
 * the round began (or at once if it took longer), so rounds of one server never overlap
 * and a dead target only ever waits on its own timeout.
 */
export function createDiskScheduler (options: DiskSchedulerOptions): DiskScheduler {
  const schedules = new Map<string, Schedule>()
  // Requests stay well inside a round, so a timed-out round never runs into the next one.
  const timeoutMs = Math.max(500, Math.min(5000, Math.floor(options.intervalMs * 0.8)))

  /** Rounds in flight, of running and of stopped schedules (an aborted round still has to settle). */
  const inFlight = new Set<Promise<void>>()

  async function read (server: ServerConfig, signal: AbortSignal): Promise<DiskReading[]> {
    const { snmp, netapp } = server
    const [snmpReadings, netappReadings] = await Promise.all([
      snmp?.enabled && snmp.disks.length > 0
        ? readSnmpDisks({ host: server.dnsAddress, port: options.snmpPort, community: snmp.community ?? options.snmpCommunity, disks: snmp.disks, timeoutMs, signal })
        : [],
      netapp?.enabled
        ? readNetappLuns({
          host: server.dnsAddress,
          port: options.netappPort,
          apiType: netapp.apiType,
          username: netapp.username ?? '',
          password: netapp.password ?? '',
          luns: netapp.luns,
          verifyTls: netapp.verifyTls ?? true,
          timeoutMs: Math.max(timeoutMs, Math.min(10000, Math.floor(options.intervalMs * 0.8))),
          signal
        })
        : []
    ])
    // The probes keep their secrets out of their texts; this is the last guard before every dashboard.
    const community = { secret: snmp?.community ?? options.snmpCommunity }
    const login = { username: netapp?.username, secret: netapp?.password }
    return [...snmpReadings, ...netappReadings].map(reading => reading.ok
      ? reading
      : { ...reading, error: redactCredentials(redactCredentials(reading.error, login), community) })
  }

  async function round (schedule: Schedule) {
    schedule.timer = null
    const started = Date.now()
    const { signal } = schedule.controller
    try {
      const readings = await read(schedule.server, signal)
      // A stopped schedule's round (aborted, or finished meanwhile) is not reported.
      if (!signal.aborted) options.onRound(schedule.server, readings)
    } catch (err) {
      // The probes report failures as readings; anything thrown is a bug, logged, not fatal.
      options.log.error({ err, serverId: schedule.server.id }, 'disk round failed')
    }
    if (!signal.aborted) {
      schedule.timer = setTimeout(startRound, Math.max(0, options.intervalMs - (Date.now() - started)), schedule)
    }
  }

  function startRound (schedule: Schedule) {
    const running = round(schedule)
    inFlight.add(running)
    void running.finally(() => { inFlight.delete(running) })
  }

  function stop (schedule: Schedule) {
    if (schedule.timer) clearTimeout(schedule.timer)
    schedule.timer = null
    schedule.controller.abort()
  }

  return {
    set (server) {
      const current = schedules.get(server.id)
      const target = diskTarget(server)
      if (current && current.target === target) {
        current.server = server
        return
      }
      if (current) stop(current)
      if (!hasDisks(server)) {
        schedules.delete(server.id)
        return
      }
      const schedule: Schedule = { server, target, timer: null, controller: new AbortController() }
      schedules.set(server.id, schedule)
      // A first read soon, spread a little so an import does not fire every request at once.
      schedule.timer = setTimeout(startRound, Math.floor(Math.random() * Math.min(1000, options.intervalMs / 10)), schedule)
    },
    remove (id) {
      const schedule = schedules.get(id)
      if (schedule) stop(schedule)
      schedules.delete(id)
    },
    async close () {
      for (const schedule of schedules.values()) stop(schedule)
      schedules.clear()
      // Aborted rounds settle at once; waiting for them means no socket outlives close().
      await Promise.all(inFlight)
    }
  }
}
