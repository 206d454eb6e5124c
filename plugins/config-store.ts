import fp from 'fastify-plugin'
import { createConfigStore, type ConfigStore } from '../lib/config-store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    configStore: ConfigStore
  }
}

export interface ConfigStorePluginOptions {
  file: string
  watchFile?: boolean
}

/** The lowdb-backed configuration: the only code that touches the data file. */
export default fp<ConfigStorePluginOptions>(async function configStorePlugin (fastify, options) {
  const store = await createConfigStore({
    file: options.file,
    watchFile: options.watchFile,
    log: fastify.log.child({ plugin: 'config-store' })
  })
  fastify.decorate('configStore', store)
  fastify.addHook('onClose', () => store.close())
}, { name: 'estatus-config-store', fastify: '5.x' })
