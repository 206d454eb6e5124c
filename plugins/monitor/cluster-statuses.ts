import type { FastifyBaseLogger } from 'fastify'
import type { EstatusEvent } from '../../schemas/events.ts'
import type { ServerStatus } from '../../schemas/status.ts'
import { loadStatuses, saveStatuses } from '../../lib/cluster/statuses.ts'
import type { Cluster } from '../cluster.ts'
import type { EventBus } from '../event-bus.ts'
import type { Entry } from './entry.ts'

/** How long the statuses a leader changed wait before they are written together. */
const SAVE_EVERY_MS = 250

export interface ClusterStatuses {
  /** What the last leader saved, per server: a starting node begins there. */
  readonly stored: Map<string, ServerStatus>
  /** The leader published `event`: its server's status is saved soon. */
  published (event: EstatusEvent): void
  /** Saves every status now (a leader stepping down: the next one starts from them). */
  saveAll (): Promise<void>
  close (): Promise<void>
}

/**
 * The monitor's side of cluster mode (SPEC §12). The leader saves the statuses its probes
 * change (fenced with its term: a leader that has lost the lease saves nothing); a node that
 * does not lead follows the leader's statusChange and diskUpdate events. (Follower statuses
 * carry the leader's flips, disks and times of change; `lastChecked` is the last event's.)
 */
export async function clusterStatuses (options: { cluster: Cluster, bus: EventBus, entries: ReadonlyMap<string, Entry>, leading: () => boolean, log: FastifyBaseLogger }): Promise<ClusterStatuses> {
  const { cluster, bus, entries, log } = options
  const unsaved = new Set<string>()
  let timer: NodeJS.Timeout | null = null
  let saving: Promise<void> = Promise.resolve()

  function save (ids: Iterable<string>) {
    const fence = cluster.fence()
    const statuses = [...ids].flatMap(id => { const entry = entries.get(id); return entry ? [entry.status] : [] })
    if (fence === null || statuses.length === 0) return saving
    saving = saving
      .then(async () => {
        if (!await saveStatuses(cluster.database, statuses, fence)) log.warn({ statuses: statuses.length }, 'not saving statuses: another node leads now')
      })
      .catch(err => log.warn({ err, statuses: statuses.length }, 'could not save server statuses; they are saved with their next change'))
    return saving
  }

  function saveUnsaved () {
    timer = null
    const ids = [...unsaved]
    unsaved.clear()
    void save(ids)
  }

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
    published (event) {
      if (event.type !== 'statusChange' && event.type !== 'diskUpdate') return
      unsaved.add(event.update.serverId)
      timer ??= setTimeout(saveUnsaved, SAVE_EVERY_MS)
    },
    saveAll () {
      if (timer !== null) { clearTimeout(timer); timer = null }
      unsaved.clear()
      return save(entries.keys())
    },
    async close () {
      unsubscribe()
      if (timer !== null) { clearTimeout(timer); saveUnsaved() }
      await saving
    }
  }
}
