import { Type, type Static, type TProperties, type TSchema } from '@sinclair/typebox'
import { ItemId, STORM_SERVERS, StringEnum } from './common.ts'
import { LogQuery } from './history.ts'

/**
 * SPEC §10: channels, alert rules, maintenance windows (stored in the lowdb document,
 * version 2) and the alert itself (stored in the history database's outbox).
 */

const Name = Type.String({ minLength: 1, maxLength: 100 })
const HttpUrl = Type.String({
  minLength: 1,
  maxLength: 2048,
  pattern: '^https?://[^\\s/?#]+[^\\s]*$',
  errorMessage: 'must be an http:// or https:// URL'
})
const IsoDate = Type.String({ format: 'date-time', errorMessage: 'must be an ISO 8601 date and time with a time zone' })
const IdList = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { uniqueItems: true, maxItems: 10000, default: [] })
const EmailAddress = Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$', errorMessage: 'must be an e-mail address' })

export const CHANNEL_TYPES = ['webhook', 'slack', 'teams', 'email'] as const
export const ChannelType = StringEnum(CHANNEL_TYPES)
export type ChannelType = Static<typeof ChannelType>

/**
 * Headers a webhook channel may not set (lib/alert-config.ts refuses them): the sender sets
 * them, or they belong to the connection and undici refuses them on every attempt.
 */
export const RESERVED_HEADERS = [
  'host', 'content-type', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'expect',
  'x-estatus-signature', 'x-estatus-delivery'
] as const

/** The fields of each channel type; `secret` and `password` are masked when sent (SPEC §3.4). */
export const CHANNEL_FIELDS = {
  webhook: {
    url: HttpUrl,
    // At least 8 characters: a shorter one is no secret, and too short to be redacted from what receivers echo.
    secret: Type.Optional(Type.String({ minLength: 8, maxLength: 256 })),
    headers: Type.Optional(Type.Record(
      Type.String(),
      // What undici accepts in a header value (field-vchar, RFC 9110 §5.5): one line of visible ASCII, tab or Latin-1.
      Type.String({ maxLength: 1024, pattern: '^[\\t\\x20-\\x7e\\x80-\\xff]*$', errorMessage: 'must be one line of visible ASCII or Latin-1 characters' }),
      {
        maxProperties: 20,
        // A bad name is reported as the map's (a pattern-keyed record would call it "not a known field").
        propertyNames: { pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$", errorMessage: "must have header names of 1-64 letters, digits or !#$%&'*+.^_`|~-" }
      }
    ))
  },
  slack: { url: HttpUrl },
  teams: { url: HttpUrl },
  email: {
    // A pattern, not the probe-target format: this schema also serializes answers, whose Ajv lacks our formats.
    host: Type.String({ minLength: 1, maxLength: 253, pattern: '^(?!-)[A-Za-z0-9._:%-]+$', errorMessage: 'must be a hostname or an IP address' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 587 }),
    secure: Type.Boolean({ default: false }),
    username: Type.Optional(Type.String({ maxLength: 256 })),
    password: Type.Optional(Type.String({ maxLength: 256 })),
    from: EmailAddress,
    to: Type.Array(EmailAddress, { minItems: 1, maxItems: 50, uniqueItems: true })
  }
}

/**
 * The secret fields of every channel type, masked in answers and never logged; so are a
 * webhook's header values and the path and query of a Slack or Teams URL (lib/alert-config.ts).
 */
export const CHANNEL_SECRETS = ['secret', 'password'] as const

// The fields come as an argument, not as CHANNEL_FIELDS[type]: a generic index there collapses
// the static type. `id` is required as stored, optional as sent.
const channelOf = <K extends ChannelType, F extends TProperties, I extends TSchema>(type: K, fields: F, id: I) => Type.Object({
  id,
  name: Name,
  type: Type.Literal(type),
  ...fields
}, { additionalProperties: false })

export const WebhookChannel = channelOf('webhook', CHANNEL_FIELDS.webhook, ItemId)
export const SlackChannel = channelOf('slack', CHANNEL_FIELDS.slack, ItemId)
export const TeamsChannel = channelOf('teams', CHANNEL_FIELDS.teams, ItemId)
export const EmailChannel = channelOf('email', CHANNEL_FIELDS.email, ItemId)
/** A channel as stored (secrets in clear) and, masked, as sent. */
export const Channel = Type.Union([WebhookChannel, SlackChannel, TeamsChannel, EmailChannel])
export type Channel = Static<typeof Channel>
export type WebhookChannel = Static<typeof WebhookChannel>
export type SlackChannel = Static<typeof SlackChannel>
export type TeamsChannel = Static<typeof TeamsChannel>
export type EmailChannel = Static<typeof EmailChannel>

/** The stored variants by `type`: a document's channel is checked against the one it names. */
export const ChannelVariant = { webhook: WebhookChannel, slack: SlackChannel, teams: TeamsChannel, email: EmailChannel } as const

/** A channel as a client sends it: validated against the variant its `type` names. */
export const ChannelInput = {
  webhook: channelOf('webhook', CHANNEL_FIELDS.webhook, Type.Optional(ItemId)),
  slack: channelOf('slack', CHANNEL_FIELDS.slack, Type.Optional(ItemId)),
  teams: channelOf('teams', CHANNEL_FIELDS.teams, Type.Optional(ItemId)),
  email: channelOf('email', CHANNEL_FIELDS.email, Type.Optional(ItemId))
} as const
export type ChannelInput = Static<(typeof ChannelInput)[ChannelType]>

export const AlertScope = Type.Object({
  serverIds: IdList,
  groupIds: IdList
}, { additionalProperties: false, default: { serverIds: [], groupIds: [] } })
export type AlertScope = Static<typeof AlertScope>

export const AlertTrigger = StringEnum(['down', 'up', 'disk'] as const)

const alertRuleFields = {
  name: Name,
  enabled: Type.Boolean({ default: true }),
  /** Both lists empty: every server. */
  scope: AlertScope,
  on: Type.Array(AlertTrigger, { minItems: 1, maxItems: 3, uniqueItems: true }),
  /** A server must stay down this long after its flip before `down` is sent. */
  forSeconds: Type.Integer({ minimum: 0, maximum: 86400, default: 0 }),
  diskPercent: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  diskDaysToFull: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 })),
  /** Repeat a `down` or `disk` alert while it lasts; 0 = never. */
  renotifyMinutes: Type.Integer({ minimum: 0, maximum: 10080, default: 0 }),
  channelIds: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 20, uniqueItems: true })
}

export const AlertRuleInput = Type.Object({
  id: Type.Optional(ItemId),
  ...alertRuleFields
}, { additionalProperties: false })
export type AlertRuleInput = Static<typeof AlertRuleInput>

export const AlertRule = Type.Object({ id: ItemId, ...alertRuleFields }, { additionalProperties: false })
export type AlertRule = Static<typeof AlertRule>

const maintenanceFields = {
  name: Name,
  scope: AlertScope,
  start: IsoDate,
  end: IsoDate,
  /** The window [start, end) again every day or week, until `until` (forever without it). */
  repeat: Type.Optional(Type.Object({
    every: StringEnum(['day', 'week'] as const),
    until: Type.Optional(IsoDate)
  }, { additionalProperties: false }))
}

export const MaintenanceInput = Type.Object({
  id: Type.Optional(ItemId),
  ...maintenanceFields
}, { additionalProperties: false })
export type MaintenanceInput = Static<typeof MaintenanceInput>

export const MaintenanceWindow = Type.Object({ id: ItemId, ...maintenanceFields }, { additionalProperties: false })
export type MaintenanceWindow = Static<typeof MaintenanceWindow>

export const AlertKind = StringEnum(['down', 'up', 'disk', 'test'] as const)
export type AlertKind = Static<typeof AlertKind>

const AlertServer = Type.Object({ id: Type.String(), name: Type.String(), ip: Type.String() }, { additionalProperties: false })

/** What every channel is sent (SPEC §10), rendered per channel type by its sender. */
export const Alert = Type.Object({
  id: Type.String(),
  kind: AlertKind,
  rule: Type.Object({ id: Type.String(), name: Type.String() }, { additionalProperties: false }),
  /** For a storm alert: the first server of the group that went down. */
  server: AlertServer,
  groups: Type.Array(Type.String()),
  /** When the alert was raised, and since when its condition holds (ISO dates). */
  at: Type.String(),
  since: Type.String(),
  durationSeconds: Type.Optional(Type.Integer({ minimum: 0 })),
  disk: Type.Optional(Type.Object({
    name: Type.String(),
    percentage: Type.Integer(),
    daysToFull: Type.Optional(Type.Number())
  }, { additionalProperties: false })),
  /** Storm grouping: one alert for a group of which at least half (and ≥ 3) went down within 60 s. */
  storm: Type.Optional(Type.Object({
    group: Type.Object({ id: Type.String(), name: Type.String() }, { additionalProperties: false }),
    // A bound on what one alert (and its webhook body) carries; the rules name at most this many.
    servers: Type.Array(AlertServer, { maxItems: STORM_SERVERS })
  }, { additionalProperties: false })),
  message: Type.String()
}, { additionalProperties: false })
export type Alert = Static<typeof Alert>

export const DeliveryState = StringEnum(['pending', 'delivered', 'failed'] as const)
export type DeliveryState = Static<typeof DeliveryState>

/** One channel's delivery of one alert. */
export const Delivery = Type.Object({
  channelId: Type.String(),
  /** The idempotency key (`X-Estatus-Delivery` on webhooks). */
  key: Type.String(),
  state: DeliveryState,
  attempts: Type.Integer({ minimum: 0 }),
  lastAttemptAt: Type.Union([Type.String(), Type.Null()]),
  deliveredAt: Type.Union([Type.String(), Type.Null()]),
  nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()])
}, { additionalProperties: false })
export type Delivery = Static<typeof Delivery>

/** An entry of `GET /api/alerts`. */
export const AlertLogEntry = Type.Object({ ...Alert.properties, deliveries: Type.Array(Delivery) }, { additionalProperties: false })
export type AlertLogEntry = Static<typeof AlertLogEntry>

/** `GET /api/alerts`: alerts whose `at` is in [from, to] (default: the last 30 days), newest first, at most `limit` (100). */
export const AlertsQuery = LogQuery
export type AlertsQuery = Static<typeof AlertsQuery>

/** What one attempt came to: the answer of `POST /api/config/channels/:id/test`. */
export const DeliveryOutcome = Type.Object({
  delivered: Type.Boolean(),
  /** The receiver's HTTP status or SMTP reply code, when it answered. */
  status: Type.Optional(Type.Integer()),
  /** Status and a short reason only: never a secret, never the receiver's whole answer. */
  error: Type.Optional(Type.String()),
  durationMs: Type.Integer({ minimum: 0 })
}, { additionalProperties: false })
export type DeliveryOutcome = Static<typeof DeliveryOutcome>
