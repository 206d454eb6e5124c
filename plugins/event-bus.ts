import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { EstatusEvent } from '../schemas/events.ts'
import { createListeners } from '../lib/listeners.ts'

export type EventListener = (event: EstatusEvent) => void

/**
 * Typed publish/subscribe for the state changes of SPEC §5. Deliberately narrow
 * (fire-and-forget publish, subscribe with an unsubscribe function) so that a
 * network-backed bus can stand in for this in-process one.
 */
export interface EventBus {
  publish (event: EstatusEvent): void
  subscribe (listener: EventListener): () => void
}

export function createEventBus (log: FastifyBaseLogger): EventBus {
  const listeners = createListeners<EstatusEvent>(log, event => [{ type: event.type }, 'an event subscriber failed'])
  return { publish: listeners.emit, subscribe: listeners.add }
}

export default fp(async function eventBusPlugin (fastify) {
  fastify.decorate('eventBus', createEventBus(fastify.log.child({ plugin: 'event-bus' })))
}, { name: 'estatus-event-bus', fastify: '5.x' })
