import type { FastifyBaseLogger } from 'fastify'
import type { ServerStatus } from '../../schemas/status.ts'
import { loadStatuses, saveStatuses } from '../../lib/cluster/statuses.ts'
import type { Cluster } from '../cluster.ts'
import type { EventBus } from '../event-bus.ts'
import type { Entry } from './entry.ts'

export interface ClusterStatuses {
  /** What the last leader saved, per server: a starting node begins there. */
  readonly stored: Map<string, ServerStatus>
  /** Saves every status now (a leader stepping down: the next one starts from them). */
  saveAll (): Promise<void>
  close (): Promise<void>
}

/**
 * The monitor's side of cluster mode (SPEC §12). The statuses the leader's events change are
 * saved with them (the bus's transaction); all of them when it stops leading (fenced with
 * its term: a leader that has lost the lease saves nothing). A node that does not lead
 * follows the leader's statusChange and diskUpdate events. (Follower statuses
 * carry the leader's flips, disks and times of change; `lastChecked` is the last event's.)
 */
export async function clusterStatuses (options: { cluster: Cluster, bus: EventBus, entries: ReadonlyMap<string, Entry>, leading: () => boolean, log: FastifyBaseLogger }): Promise<ClusterStatuses> {
  const { cluster, bus, entries, log } = options
  let saving: Promise<void> = Promise.resolve()

  const unsubscribe = bus.subscribe(event => {
    if (options.leading() || (event.type !== 'statusChange' && event.type !== 'diskUpdate')) return
    const entry = entries.get(event.update.serverId)
    if (entry === undefined) return
    const { status } = entry
    status.lastChecked = event.update.timestamp
    if (event.type === 'diskUpdate') {
      status.diskInfo = event.update.diskInfo
      return
    }
    const { isOnline, timestamp, maintenance } = event.update
    if (status.isOnline !== isOnline) status.lastStatusChange = timestamp
    status.isOnline = isOnline
    if (maintenance === true) status.maintenance = true
    else if (maintenance === false) delete status.maintenance
  })

  return {
    stored: await loadStatuses(cluster.database),
    saveAll () {
      const fence = cluster.fence()
      if (fence === null) return saving
      const statuses = [...entries.values()].map(entry => entry.status)
      saving = saving
        .then(async () => {
          if (!await saveStatuses(cluster.database, statuses, fence)) log.warn({ statuses: statuses.length }, 'not saving statuses: another node leads now')
        })
        .catch(err => log.warn({ err, statuses: statuses.length }, 'could not save the server statuses'))
      return saving
    },
    async close () {
      unsubscribe()
      await saving
    }
  }
}
