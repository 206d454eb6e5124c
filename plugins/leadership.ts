import fp from 'fastify-plugin'
import { clusterOf } from './cluster.ts'
import type { EventBus } from './event-bus.ts'
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

interface Work {
  name: string
  start: () => Promise<StopWork> | StopWork
  /** Its start and stop, one after the other: a stop asked for while it starts waits for the start. */
  turn: Promise<void>
  stop: StopWork | null
}

/**
 * SPEC §12's one leader: the probes, history recording, alert rules and delivery run on one
 * node only. Outside cluster mode this node always leads; in cluster mode the lease
 * (lib/cluster/lease.ts) decides, from the moment the app is ready (every part has said what
 * it runs by then).
 *
 * A new leader starts the works in reverse order of registration and a leader stepping down
 * stops them in order: the probes (registered first) start last and stop first, so the
 * history and the rules never miss a result of theirs, and nothing is probed while they are
 * already gone.
 */
export default fp(async function leadershipPlugin (fastify) {
  const log = fastify.log.child({ plugin: 'leadership' })
  const cluster = clusterOf(fastify)
  const bus = fastify.getDecorator<EventBus>('eventBus')
  const works: Work[] = []
  let leading = cluster === null

  function begin (work: Work) {
    work.turn = work.turn.then(async () => {
      try {
        work.stop = await work.start()
      } catch (err) {
        log.error({ err, work: work.name }, 'could not start leader work')
      }
    })
    return work.turn
  }
  function end (work: Work) {
    work.turn = work.turn.then(async () => {
      const stop = work.stop
      work.stop = null
      try {
        await stop?.()
      } catch (err) {
        log.error({ err, work: work.name }, 'could not stop leader work')
      }
    })
    return work.turn
  }

  const lease = cluster === null
    ? null
    : createLease({
      database: cluster.database,
      log,
      holder: cluster.node,
      async gained (term) {
        leading = true
        cluster.leadingTerm = term
        for (const work of [...works].reverse()) await begin(work)
      },
      async lost () {
        leading = false
        for (const work of works) await end(work)
        // What the probes published until they stopped, written while the lease is still ours (fenced).
        await bus.flush()
        cluster.leadingTerm = null
      }
    })

  const leadership: Leadership = {
    get leading () { return leading },
    async whileLeading (name, start) {
      const work: Work = { name, start, turn: Promise.resolve(), stop: null }
      works.push(work)
      // Outside cluster mode a part that cannot start stops the app's start, as it always did.
      if (cluster === null) work.stop = await start()
      else if (leading) await begin(work)
      return async () => {
        const index = works.indexOf(work)
        if (index === -1) return
        works.splice(index, 1)
        await end(work)
      }
    }
  }
  fastify.decorate('leadership', leadership)
  if (cluster !== null && lease !== null) {
    // The log is pruned by one node: the leader (the events' retention, see pruneLog).
    const stopPruning = await leadership.whileLeading('event log pruning', () => schedulePruning(() => pruneLog(cluster.database.pool), HOURLY, log).stop)
    fastify.addHook('onReady', async () => lease.start())
    fastify.addHook('onClose', async () => {
      await stopPruning()
      await lease.close()
    })
  }
}, { name: 'estatus-leadership', fastify: '5.x', dependencies: ['estatus-event-bus'] })
