import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { openDatabase, type Database } from '../lib/cluster/database.ts'
import { migrate } from '../lib/cluster/migrations.ts'
import { createLogTail, lastLogId, type LogRow, type LogTail } from '../lib/cluster/event-log.ts'
import type { Fence } from '../lib/cluster/fencing.ts'

export interface ClusterOptions {
  /** ESTATUS_DATABASE_URL */
  url: string
}

export type RowHandler = (rows: LogRow[]) => Promise<void> | void
export type { Fence } from '../lib/cluster/fencing.ts'

/** Reached in the scope as `getDecorator<Cluster>('cluster')`; present only in cluster mode. */
export interface Cluster {
  readonly database: Database
  /** This node's name in the leader lease and the logs: host, pid and a random part (a restarted pid is another node). */
  readonly node: string
  /** This node's reader of the event log: started once the app is ready. */
  readonly tail: LogTail
  /** Who consumes the log's rows of one kind: the store its `config` rows, the bus the `event` rows. */
  consume (kind: LogRow['kind'], handler: RowHandler): void
  /** The term this node leads in, or null (set by the leadership plugin): what its leader writes are fenced with. */
  leadingTerm: number | null
  /** This node's fence while it leads (fencing.ts), else null. */
  fence (): Fence | null
}

/** The scope's Cluster in cluster mode, null otherwise. */
export const clusterOf = (fastify: FastifyInstance): Cluster | null =>
  fastify.hasDecorator('cluster') ? fastify.getDecorator<Cluster>('cluster') : null

/**
 * Cluster mode (SPEC §12): connects to PostgreSQL and brings its schema up to date before
 * anything else starts, follows the event log once for the whole node, and closes the
 * connections last.
 */
export default fp<ClusterOptions>(async function clusterPlugin (fastify, options) {
  const log = fastify.log.child({ plugin: 'cluster' })
  const database = await openDatabase(options.url, log)
  let from: number
  try {
    const applied = await migrate(database.pool)
    if (applied.length > 0) log.info({ versions: applied }, 'migrated the database schema')
    from = await lastLogId(database.pool)
  } catch (err) {
    await database.close()
    throw err
  }

  const handlers: Partial<Record<LogRow['kind'], RowHandler>> = {}
  // The rows in order; a run of one kind goes to its consumer in one call.
  async function handle (rows: LogRow[]) {
    let start = 0
    for (let i = 1; i <= rows.length; i++) {
      if (i < rows.length && rows[i]!.kind === rows[start]!.kind) continue
      await handlers[rows[start]!.kind]?.(rows.slice(start, i))
      start = i
    }
  }
  const tail = createLogTail({ database, log, from, handle })

  const cluster: Cluster = {
    database,
    node: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    tail,
    consume (kind, handler) { handlers[kind] = handler },
    leadingTerm: null,
    fence () { return cluster.leadingTerm === null ? null : { holder: cluster.node, term: cluster.leadingTerm } }
  }
  fastify.decorate('cluster', cluster)
  // From here every consumer is in place.
  fastify.addHook('onReady', async () => tail.start())
  fastify.addHook('onClose', async () => {
    await tail.close()
    await database.close()
  })
}, { name: 'estatus-cluster', fastify: '5.x' })
