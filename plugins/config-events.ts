import fp from 'fastify-plugin'
import { toPublicServer } from '../lib/normalize.ts'
import type { ChangeSet, ConfigStore } from '../lib/config-store.ts'
import type { EventBus } from './event-bus.ts'

/**
 * Publishes every persisted configuration change as the per-item events of SPEC §5.
 * It listens to the store rather than to routes, so changes made through the host's
 * `estatus.store` and hand edits of the data file are published the same way. The store
 * calls it after the write and before the mutating call resolves, so the events leave
 * before the HTTP response does.
 */
export default fp(async function configEvents (fastify) {
  const bus = fastify.getDecorator<EventBus>('eventBus')

  function publishChanges (changes: ChangeSet) {
    for (const server of changes.serversAdded) bus.publish({ type: 'serverAdded', server: toPublicServer(server) })
    for (const { after } of changes.serversUpdated) bus.publish({ type: 'serverUpdated', server: toPublicServer(after) })
    for (const server of changes.serversRemoved) bus.publish({ type: 'serverRemoved', serverId: server.id })
    if (changes.groups !== null) bus.publish({ type: 'groupsChanged', groups: changes.groups })
  }

  // A failing listener is logged by the store; it never fails the mutation.
  const unsubscribe = fastify.getDecorator<ConfigStore>('configStore').onChange(publishChanges)
  fastify.addHook('onClose', async () => unsubscribe())
}, {
  name: 'estatus-config-events',
  fastify: '5.x',
  dependencies: ['estatus-config-store', 'estatus-event-bus']
})
