import fp from 'fastify-plugin'
import type { Cluster } from './cluster.ts'
import { createLease } from '../lib/cluster/lease.ts'
import { pruneLog } from '../lib/cluster/event-log.ts'
import { HOURLY, schedulePruning } from '../lib/pruning.ts'

/** What a piece of leader-only work returns: how to stop it. */
export type StopWork = () => Promise<void> | void

/** Reached in the scope as `getDecorator<Leadership>('leadership')`. */
export interface Leadership {
  /** Whether this node does the leader-only work now (always, outside cluster mode). */
  readonly leading: boolean
  /**
   * Runs `start` whenever this node becomes the leader — at once outside cluster mode — and the
   * stop it returns when it stops leading. Resolves with the function that ends this (a
   * plugin's onClose): it stops the work if it runs.
   */
  whileLeading (name: string, start: () => Promise<StopWork> | StopWork): Promise<() => Promise<void>>
}

interface Work { name: string, start: () => Promise<StopWork> | StopWork, stop: StopWork | null }

/**
 * SPEC §12's one leader: the probes, history recording, alert rules and delivery run on one
 * node only. Outside cluster mode this node always leads; in cluster mode the lease
 * (lib/cluster/lease.ts) decides, from the moment the app is ready (every part has said what
 * it runs by then), and a node that stops leading stops that work in reverse order.
 */
export default fp(async function leadershipPlugin (fastify) {
  const log = fastify.log.child({ plugin: 'leadership' })
  const cluster = fastify.hasDecorator('cluster') ? fastify.getDecorator<Cluster>('cluster') : null
  const works: Work[] = []
  let leading = cluster === null

  async function begin (work: Work) {
    try {
      work.stop = await work.start()
    } catch (err) {
      log.error({ err, work: work.name }, 'could not start leader work')
    }
  }
  async function end (work: Work) {
    const stop = work.stop
    work.stop = null
    try {
      await stop?.()
    } catch (err) {
      log.error({ err, work: work.name }, 'could not stop leader work')
    }
  }

  const lease = cluster === null
    ? null
    : createLease({
      database: cluster.database,
      log,
      holder: cluster.node,
      async gained () {
        leading = true
        for (const work of works) await begin(work)
      },
      async lost () {
        leading = false
        for (const work of [...works].reverse()) await end(work)
      }
    })

  const leadership: Leadership = {
    get leading () { return leading },
    async whileLeading (name, start) {
      const work: Work = { name, start, stop: null }
      works.push(work)
      // Outside cluster mode a part that cannot start stops the app's start, as it always did.
      if (cluster === null) work.stop = await start()
      else if (leading) await begin(work)
      return async () => {
        works.splice(works.indexOf(work), 1)
        await end(work)
      }
    }
  }
  fastify.decorate('leadership', leadership)
  if (cluster !== null) {
    // The log is pruned by one node: the leader (the events' retention, see pruneLog).
    const stopPruning = await leadership.whileLeading('event log pruning', () => {
      const pruning = schedulePruning(() => pruneLog(cluster.database.pool), HOURLY, log)
      return pruning.stop
    })
    fastify.addHook('onClose', stopPruning)
  }
  if (lease !== null) {
    fastify.addHook('onReady', async () => lease.start())
    fastify.addHook('onClose', () => lease.close())
  }
}, { name: 'estatus-leadership', fastify: '5.x' })
