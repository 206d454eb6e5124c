import fp from 'fastify-plugin'
import type { ServerConfig } from '../../schemas/config.ts'
import type { ServerStatus } from '../../schemas/status.ts'
import type { ChangeSet, ConfigStore } from '../../lib/config-store.ts'
import type { EventBus } from '../event-bus.ts'
import { createListeners } from '../../lib/listeners.ts'
import { clusterOf } from '../cluster.ts'
import type { Leadership } from '../leadership.ts'
import { clusterStatuses } from './cluster-statuses.ts'
import { createAvailability, type AvailabilityOptions } from './availability.ts'
import { createDisks, type DisksOptions } from './disks.ts'
import type { Entry, MonitorContext, MonitorResult } from './entry.ts'

export type { MonitorResult } from './entry.ts'

export interface ProbeCheck { ok: boolean, error?: string }

/** The current state of every configured server (SPEC §3.6). */
export interface Monitor {
  /** Every server's status, in configuration order. */
  statuses (): ServerStatus[]
  status (id: string): ServerStatus | undefined
  health (): { icmp: ProbeCheck, snmp: ProbeCheck }
  /** Every probe result after the state machine handled it; returns the unsubscribe function. */
  onResult (listener: (result: MonitorResult) => void): () => void
  /** fping processes restarted after they ended unasked. */
  fpingRestarts (): number
  /**
   * Marks a server as inside (or no longer inside) a maintenance window (SPEC §10): its
   * status carries `maintenance: true` meanwhile, and each change is published as a
   * statusChange with `maintenance` and an unchanged `isOnline`. Probing goes on.
   */
  setMaintenance (id: string, inside: boolean): void
}

export interface MonitorOptions extends AvailabilityOptions, DisksOptions {}

export default fp<MonitorOptions>(async function monitorPlugin (fastify, options) {
  const store = fastify.getDecorator<ConfigStore>('configStore')
  const bus = fastify.getDecorator<EventBus>('eventBus')
  const leadership = fastify.getDecorator<Leadership>('leadership')
  const cluster = clusterOf(fastify)
  const log = fastify.log.child({ plugin: 'monitor' })
  const entries = new Map<string, Entry>()
  const listeners = createListeners<MonitorResult>(log, result => [{ serverId: result.serverId }, 'monitor: an onResult listener threw'])
  const shared = cluster === null ? null : await clusterStatuses({ cluster, bus, entries, leading: () => probing !== null, log })

  const ctx: MonitorContext = {
    log,
    entries,
    publish (event) {
      bus.publish(event, 'update' in event ? entries.get(event.update.serverId)?.status : undefined)
    },
    emit: listeners.emit
  }
  /** The probes run on the leader only (always, outside cluster mode). */
  let probing: { availability: ReturnType<typeof createAvailability>, disks: ReturnType<typeof createDisks> } | null = null

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
    const icmpError = probing?.availability.error ?? null
    if (icmpError !== null) status.lastError = icmpError
    return status
  }

  function add (server: ServerConfig, stored?: ServerStatus) {
    // A stored status carries what the last leader knew; its run lengths start again here.
    const status = stored === undefined ? newStatus(server) : { ...stored, name: server.name, ip: server.ip, consecutiveSuccesses: 0, consecutiveFailures: 0 }
    const entry: Entry = { server, status, address: null, diskFailing: false }
    entries.set(server.id, entry)
    probing?.availability.watch(entry)
    probing?.disks.set(entry)
  }

  function remove (id: string) {
    const entry = entries.get(id)
    if (entry === undefined) return
    probing?.availability.unwatch(entry)
    probing?.disks.remove(id)
    entries.delete(id)
  }

  function update (before: ServerConfig, after: ServerConfig) {
    const entry = entries.get(after.id)
    if (entry === undefined) return add(after)
    entry.server = after
    entry.status.name = after.name
    entry.status.ip = after.ip
    if (probing === null) return
    if (before.dnsAddress !== after.dnsAddress) {
      const { diskInfo, maintenance } = entry.status
      probing.availability.retarget(entry, { ...newStatus(after), diskInfo, ...(maintenance === undefined ? {} : { maintenance }) })
    }
    // New thresholds apply from the next probe result; counters are kept.
    probing.disks.set(entry)
  }

  function applyChanges (changes: ChangeSet) {
    for (const server of changes.serversAdded) add(server)
    for (const { before, after } of changes.serversUpdated) update(before, after)
    for (const server of changes.serversRemoved) remove(server.id)
  }

  for (const server of store.servers()) add(server, shared?.stored.get(server.id))
  const unsubscribe = store.onChange(applyChanges)

  async function stopProbing () {
    const running = probing
    if (running === null) return
    probing = null
    // Aborts the disk rounds in flight; both settle together.
    await Promise.all([running.disks.close(), running.availability.close()])
    // The next leader starts from these (and a starting node).
    await shared?.saveAll()
  }

  const stopLeading = await leadership.whileLeading('probes', () => {
    probing = { availability: createAvailability(ctx, options), disks: createDisks(ctx, options) }
    for (const entry of entries.values()) {
      probing.availability.watch(entry)
      probing.disks.set(entry)
    }
    return stopProbing
  })

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
    health () {
      const icmpError = probing?.availability.error ?? null
      return { icmp: icmpError === null ? { ok: true } : { ok: false, error: icmpError }, snmp: { ok: true } }
    },
    onResult (listener) {
      // A wrapper per subscription: the same function subscribed twice is called twice.
      return listeners.add(result => listener(result))
    },
    fpingRestarts: () => probing?.availability.restarts ?? 0,
    setMaintenance (id, inside) {
      const entry = entries.get(id)
      if (entry === undefined || (entry.status.maintenance === true) === inside) return
      const { server, status } = entry
      if (inside) status.maintenance = true
      else delete status.maintenance
      ctx.publish({
        type: 'statusChange',
        update: { serverId: server.id, name: server.name, ip: server.ip, isOnline: status.isOnline, previousStatus: status.isOnline, timestamp: new Date().toISOString(), maintenance: inside }
      })
    }
  }
  fastify.decorate('monitor', monitor)

  fastify.addHook('onClose', async () => {
    unsubscribe()
    await stopLeading()
    await shared?.close()
    listeners.clear()
  })
}, {
  name: 'estatus-monitor',
  fastify: '5.x',
  dependencies: ['estatus-config-store', 'estatus-event-bus', 'estatus-leadership']
})
