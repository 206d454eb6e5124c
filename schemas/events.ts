import { Type, type Static } from '@sinclair/typebox'
import { GroupConfig, PublicServerConfig } from './config.ts'
import { DiskInfo, ServerStatus } from './status.ts'

// The messages of `GET /api/events` (SPEC §5): unnamed SSE events whose data is JSON
// with a `type`. The bus carries the state changes; the stream adds the rest.

export const StatusChangeEvent = Type.Object({
  type: Type.Literal('statusChange'),
  update: Type.Object({
    serverId: Type.String(),
    name: Type.String(),
    ip: Type.String(),
    isOnline: Type.Boolean(),
    previousStatus: Type.Boolean(),
    timestamp: Type.String(),
    /**
     * Set while the server is inside a maintenance window (SPEC §10), and `false` on the
     * event that ends one. A maintenance change is published as a statusChange whose
     * `isOnline` equals `previousStatus`: clients that only read `isOnline` see no flip.
     */
    maintenance: Type.Optional(Type.Boolean())
  }, { additionalProperties: false })
}, { additionalProperties: false })

export const DiskUpdateEvent = Type.Object({
  type: Type.Literal('diskUpdate'),
  update: Type.Object({
    serverId: Type.String(),
    name: Type.String(),
    diskInfo: Type.Union([Type.Array(DiskInfo), Type.Null()]),
    timestamp: Type.String(),
    error: Type.Optional(Type.String())
  }, { additionalProperties: false })
}, { additionalProperties: false })

export const ServerAddedEvent = Type.Object({
  type: Type.Literal('serverAdded'),
  server: PublicServerConfig
}, { additionalProperties: false })

export const ServerUpdatedEvent = Type.Object({
  type: Type.Literal('serverUpdated'),
  server: PublicServerConfig
}, { additionalProperties: false })

export const ServerRemovedEvent = Type.Object({
  type: Type.Literal('serverRemoved'),
  serverId: Type.String()
}, { additionalProperties: false })

export const GroupsChangedEvent = Type.Object({
  type: Type.Literal('groupsChanged'),
  groups: Type.Array(GroupConfig)
}, { additionalProperties: false })

/** Everything the event bus carries: each is a state change and gets an `id:` on the stream. */
export const EstatusEvent = Type.Union([
  StatusChangeEvent, DiskUpdateEvent, ServerAddedEvent, ServerUpdatedEvent, ServerRemovedEvent, GroupsChangedEvent
])
export type EstatusEvent = Static<typeof EstatusEvent>
export type EstatusEventType = EstatusEvent['type']

export const ConnectedMessage = Type.Object({
  type: Type.Literal('connected'),
  message: Type.Literal('Connected to server status stream')
}, { additionalProperties: false })

export const InitialMessage = Type.Object({
  type: Type.Literal('initial'),
  servers: Type.Array(ServerStatus),
  groups: Type.Array(GroupConfig)
}, { additionalProperties: false })
export type InitialMessage = Static<typeof InitialMessage>

export const HeartbeatMessage = Type.Object({
  type: Type.Literal('heartbeat'),
  timestamp: Type.String()
}, { additionalProperties: false })

/** Any message a client of `/api/events` can receive. */
export const StreamMessage = Type.Union([ConnectedMessage, InitialMessage, HeartbeatMessage, EstatusEvent])
export type StreamMessage = Static<typeof StreamMessage>
