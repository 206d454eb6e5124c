import fp from 'fastify-plugin'
import { toPublicServer } from '../lib/normalize.ts'
import type { ChangeSet, ConfigStore } from '../lib/config-store.ts'
import type { EstatusEvent } from '../schemas/events.ts'
import type { EventBus } from './event-bus.ts'

/** The per-item events of SPEC §5 that one persisted change makes, in order. */
export function configEventsOf (changes: ChangeSet): EstatusEvent[] {
  const events: EstatusEvent[] = []
  for (const server of changes.serversAdded) events.push({ type: 'serverAdded', server: toPublicServer(server) })
  for (const { after } of changes.serversUpdated) events.push({ type: 'serverUpdated', server: toPublicServer(after) })
  for (const server of changes.serversRemoved) events.push({ type: 'serverRemoved', serverId: server.id })
  if (changes.groups !== null) events.push({ type: 'groupsChanged', groups: changes.groups })
  return events
}

/**
 * Publishes every persisted configuration change as the per-item events of SPEC §5.
 * It listens to the store rather than to routes, so changes made through the host's
 * `estatus.store` and hand edits of the data file are published the same way. The store
 * calls it after the write and before the mutating call resolves, so the events leave
 * before the HTTP response does. (In cluster mode the store commits the events with the
 * change itself — lib/cluster/config-log.ts — and this plugin is not registered.)
 */
export default fp(async function configEvents (fastify) {
  const bus = fastify.getDecorator<EventBus>('eventBus')
  // A failing listener is logged by the store; it never fails the mutation.
  const unsubscribe = fastify.getDecorator<ConfigStore>('configStore').onChange(changes => {
    for (const event of configEventsOf(changes)) bus.publish(event)
  })
  fastify.addHook('onClose', async () => unsubscribe())
}, {
  name: 'estatus-config-events',
  fastify: '5.x',
  dependencies: ['estatus-config-store', 'estatus-event-bus']
})
