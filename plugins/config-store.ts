import fp from 'fastify-plugin'
import { createConfigStore } from '../lib/config-store.ts'
import { configEventsOf } from './config-events.ts'
import { clusterOf } from './cluster.ts'

export interface ConfigStorePluginOptions {
  file: string
  watchFile?: boolean
}

/**
 * The configuration store: the only code that touches the data file and its journal — or, in
 * cluster mode, the configuration tables. Decorates its scope with `configStore` (reached with
 * `getDecorator<ConfigStore>`; the host sees it as `estatus.store`).
 */
export default fp<ConfigStorePluginOptions>(async function configStorePlugin (fastify, options) {
  const cluster = clusterOf(fastify)
  const store = await createConfigStore({
    file: options.file,
    watchFile: options.watchFile,
    log: fastify.log.child({ plugin: 'config-store' }),
    ...(cluster === null
      ? {}
      : {
          cluster: {
            database: cluster.database,
            tail: cluster.tail,
            consume: (kind, handler) => cluster.consume(kind, handler),
            eventsOf: changes => configEventsOf(changes).map(event => JSON.stringify(event))
          }
        })
  })
  fastify.decorate('configStore', store)
  fastify.addHook('onClose', () => store.close())
}, { name: 'estatus-config-store', fastify: '5.x' })
