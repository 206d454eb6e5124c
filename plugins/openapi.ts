import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Type, type TSchema } from '@sinclair/typebox'
import type { FastifySchema, RouteOptions } from 'fastify'
import { Failure } from '../schemas/envelope.ts'
import { GroupInput, ServerInput } from '../schemas/config.ts'
import { AlertRuleInput, ChannelInput, MaintenanceInput } from '../schemas/alerts.ts'
import type { AccessConfig } from './auth.ts'

export interface OpenApiOptions {
  /** The scope's mount point, so routes are looked up by their own path. */
  prefix?: string
  version: string
}

const withExample = (schema: TSchema, example: unknown) => ({ ...schema, examples: [example] })

const SERVER_EXAMPLE = { name: 'web-1', ip: '10.1.2.3', dnsAddress: 'web-1.example.net', snmp: { enabled: true, community: 'public', disks: [{ index: 31, name: 'C:' }] } }
const GROUP_EXAMPLE = { name: 'Web servers', serverIds: ['server-001'], rowNumber: 1, rowOrder: 1 }
const SERVER_BODY = withExample(ServerInput, SERVER_EXAMPLE)
const GROUP_BODY = withExample(GroupInput, GROUP_EXAMPLE)
const ALIASES = 'The aliases of SPEC §3.3 (`dns`, `snmpConfig`, `netappConfig`) are accepted too and normalised first; a masked or empty secret keeps the stored one.'

const CHANNEL_BODY = withExample(Type.Union(Object.values(ChannelInput)), { name: 'On call', type: 'webhook', url: 'https://hooks.example.net/estatus', secret: 'a-shared-secret' })
const RULE_BODY = withExample(AlertRuleInput, { name: 'Web down', scope: { serverIds: [], groupIds: ['group-1'] }, on: ['down', 'up'], forSeconds: 60, channelIds: ['channel-1'] })
const MAINTENANCE_BODY = withExample(MaintenanceInput, { name: 'Patch night', scope: { serverIds: ['server-001'], groupIds: [] }, start: '2025-01-07T22:00:00Z', end: '2025-01-08T00:00:00Z', repeat: { every: 'week' } })
const KEPT_SECRETS = 'A `secret` or `password` sent back masked, empty or absent keeps the stored one.'

/** The five operations of one alert-configuration list (routes/config-alerts.ts). */
function listOperations (path: string, noun: string, body: TSchema, notes: { list?: string, body?: string, delete?: string } = {}) {
  const tags = ['alerts']
  const one = /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`
  return {
    [`GET ${path}`]: { tags, summary: `Every ${noun}${notes.list ?? ''}` },
    [`GET ${path}/:id`]: { tags, summary: `One ${noun}, with its ETag` },
    [`POST ${path}`]: { tags, summary: `Add ${one}`, description: notes.body, body },
    [`PUT ${path}/:id`]: { tags, summary: `Replace ${one} (If-Match optional)`, description: notes.body, body },
    [`DELETE ${path}/:id`]: { tags, summary: `Delete ${one}${notes.delete ?? ''}` }
  }
}

/**
 * Tags, summaries and request bodies of the routes other plugins define without them. The
 * config routes validate their bodies in the store (after normalising aliases), so the
 * canonical body is documented here rather than attached to the route for validation.
 */
const OPERATIONS: Record<string, FastifySchema & { tags: string[], summary: string }> = {
  'GET /health': { tags: ['observability'], summary: 'Liveness and probe health (not enveloped)' },
  'GET /api/events': {
    tags: ['events'],
    summary: 'Server-Sent Events: connected, initial, statusChange, diskUpdate, config changes, heartbeat',
    description: 'Unnamed events whose data is JSON with a `type` (SPEC §5). Resume with `Last-Event-ID`. Accepts the token as the `estatus_token` cookie as well.',
    response: { 200: { description: 'An event stream', content: { 'text/event-stream': { schema: Type.String({ examples: ['data: {"type":"connected","message":"Connected to server status stream"}\n\n'] }) } } } }
  },
  'GET /api/servers': { tags: ['status'], summary: 'Status of every server' },
  'GET /api/servers/stats/summary': { tags: ['status'], summary: 'How many servers are online' },
  'GET /api/servers/:id': { tags: ['status'], summary: 'Status of one server' },
  'GET /api/config/servers': { tags: ['servers'], summary: 'Every server configuration (secrets masked)' },
  'GET /api/config/servers/:id': { tags: ['servers'], summary: 'One server configuration, with its ETag' },
  'POST /api/config/servers': { tags: ['servers'], summary: 'Add a server', description: ALIASES, body: SERVER_BODY },
  'PUT /api/config/servers/:id': { tags: ['servers'], summary: 'Replace a server (If-Match optional)', description: ALIASES, body: SERVER_BODY },
  'DELETE /api/config/servers/:id': { tags: ['servers'], summary: 'Delete a server and remove it from its groups' },
  'GET /api/config/groups': { tags: ['groups'], summary: 'Every group, in display order' },
  'GET /api/config/groups/:id': { tags: ['groups'], summary: 'One group, with its ETag' },
  'POST /api/config/groups': { tags: ['groups'], summary: 'Add a group', body: GROUP_BODY },
  'PUT /api/config/groups/:id': { tags: ['groups'], summary: 'Replace a group (If-Match optional)', body: GROUP_BODY },
  'DELETE /api/config/groups/:id': { tags: ['groups'], summary: 'Delete a group, unassigning or moving its servers' },
  'GET /api/servers/:id/uptime': { tags: ['history'], summary: 'Uptime and coverage of one server over 24 h, 7 d, 30 d and 365 d' },
  'GET /api/servers/:id/history': { tags: ['history'], summary: 'Availability per minute, hour or day (CSV with Accept: text/csv)' },
  'GET /api/servers/:id/incidents': { tags: ['history'], summary: 'Offline periods, newest first (CSV with Accept: text/csv)' },
  'GET /api/servers/:id/disks/history': { tags: ['history'], summary: 'Disk usage per hour or day, with a days-to-full forecast' },
  'GET /api/stats/uptime': { tags: ['history'], summary: 'Uptime and coverage overall and per group' },
  ...listOperations('/api/config/channels', 'alert channel', CHANNEL_BODY, { list: ' (secrets masked)', body: KEPT_SECRETS, delete: ' (409 while alert rules send to it)' }),
  ...listOperations('/api/config/alert-rules', 'alert rule', RULE_BODY),
  ...listOperations('/api/config/maintenance', 'maintenance window', MAINTENANCE_BODY),
  'GET /api/alerts': { tags: ['alerts'], summary: 'The alert log, newest first, with each channel\'s delivery state' },
  'POST /api/config/channels/:id/test': { tags: ['alerts'], summary: 'Send a test alert to a channel now; answers with the outcome' }
}

/** Who may call a route, in the words of the document's security requirements. */
function security (config: AccessConfig) {
  if (config.access === 'public') return []
  return config.tokenCookie ? [{ bearer: [] }, { cookie: [] }] : [{ bearer: [] }]
}

function describeAccess (config: AccessConfig): string {
  switch (config.access) {
    case 'public': return 'Open in every mode.'
    case 'admin': return 'Needs an `admin` token in every mode.'
    case 'write': return 'Needs a `write` or `admin` token when ESTATUS_AUTH is `writes` or `all`.'
    default: return 'Needs a `read` token when ESTATUS_AUTH is `all`; open otherwise.'
  }
}

/**
 * `GET /api/openapi.json` (OpenAPI 3.1) generated by @fastify/swagger from the routes' own
 * TypeBox schemas, and the Swagger UI at `/docs`, whose assets ship in the package (no CDN).
 * Registered before the routes, so it sees every one of them.
 */
export default fp<OpenApiOptions>(async function openApi (fastify, options) {
  const prefix = options.prefix ?? ''
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'fastify-estatus',
        version: options.version,
        description: 'Server monitoring: configuration, live status, events. Errors are `{success: false, error}` (SPEC §2).'
      },
      tags: [
        { name: 'status', description: 'What the monitor sees' },
        { name: 'servers', description: 'Server configuration' },
        { name: 'groups', description: 'Dashboard groups' },
        { name: 'events', description: 'Live updates' },
        { name: 'alerts', description: 'Alert channels, rules, maintenance windows, the alert log and channel tests' },
        { name: 'backup', description: 'Export and import the whole configuration' },
        { name: 'auth', description: 'Access tokens' },
        { name: 'observability', description: 'Health and metrics' }
      ],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An access token made with `npm run token -- create` or POST /api/auth/tokens' },
          cookie: { type: 'apiKey', in: 'cookie', name: 'estatus_token', description: 'The same token, for EventSource clients' }
        }
      }
    },
    transform ({ schema, url, route }) {
      const config = ((route as RouteOptions).config ?? {}) as AccessConfig
      const own = OPERATIONS[`${route.method as string} ${url.slice(prefix.length)}`]
      const merged: Record<string, unknown> = { ...schema, ...own }
      merged.description = [merged.description, describeAccess(config)].filter(Boolean).join('\n\n')
      merged.security = security(config)
      if (url.startsWith(`${prefix}/api/`)) merged.response = { ...(merged.response as object), '4XX': { description: 'Refused: the error says why', ...Failure } }
      return { schema: merged as FastifySchema, url }
    }
  })

  fastify.get('/api/openapi.json', { schema: { hide: true } }, async () => fastify.swagger())
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'estatus-openapi', fastify: '5.x', dependencies: ['estatus-auth'] })
