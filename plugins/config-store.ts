import fp from 'fastify-plugin'
import { createConfigStore } from '../lib/config-store.ts'

export interface ConfigStorePluginOptions {
  file: string
  watchFile?: boolean
}

/**
 * The configuration store: the only code that touches the data file and its journal. Decorates its
 * scope with `configStore` (reached with `getDecorator<ConfigStore>`; the host sees it as
 * `estatus.store`).
 */
export default fp<ConfigStorePluginOptions>(async function configStorePlugin (fastify, options) {
  const store = await createConfigStore({
    file: options.file,
    watchFile: options.watchFile,
    log: fastify.log.child({ plugin: 'config-store' })
  })
  fastify.decorate('configStore', store)
  fastify.addHook('onClose', () => store.close())
}, { name: 'estatus-config-store', fastify: '5.x' })
