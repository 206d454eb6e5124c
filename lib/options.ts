// One schema for the plugin options: their types, ranges and defaults. The same schema
// checks the options at `register` and, through env-schema, the environment of the
// standalone server (each option with an env var below), and the README's table is
// generated from it (`npm run docs:options`), so none of them can drift.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Ajv, type ErrorObject } from 'ajv'
import envSchema from 'env-schema'
import type { FastifyServerOptions } from 'fastify'
import { AUTH_MODES } from '../schemas/auth.ts'
import type { AlertOutboxOptions } from '../plugins/alerts/outbox.ts'

const integer = (minimum: number, maximum: number, defaultValue: number, description: string) =>
  Type.Integer({ minimum, maximum, default: defaultValue, description })

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export const EstatusOptionsSchema = Type.Object({
  dataFile: Type.String({ minLength: 1, default: 'data/estatus.json', description: 'the one data file; relative to the working directory' }),
  watchDataFile: Type.Boolean({ default: true, description: 'pick up hand edits of the data file' }),
  corsOrigin: Type.Optional(Type.Union([Type.Literal('*'), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
    description: 'allowed origins (the variable: a comma list), or `*`; unset: same-origin only; applies to `/api/events` too; allows every method of the API and exposes `ETag` (for `If-Match`)'
  })),
  pingIntervalMs: integer(100, 3600000, 1000, 'one ICMP echo per server per interval'),
  pingTimeoutMs: integer(50, 60000, 5000, 'wait for a reply; **capped to the interval** (see Monitoring)'),
  threshold: integer(1, 10, 4, 'consecutive successes / failures that flip a server online / offline, unless the server sets its own'),
  diskIntervalMs: integer(1000, 86400000, 60000, 'SNMP / NetApp disk rounds per server'),
  snmpCommunity: Type.String({ minLength: 1, default: 'public', description: 'community for servers that set none' }),
  snmpPort: integer(1, 65535, 161, 'SNMP agent port'),
  netappPort: integer(1, 65535, 443, 'HTTPS port of the filers'),
  heartbeatMs: integer(1000, 3600000, 30000, 'JSON heartbeat on every event stream'),
  replayEvents: integer(0, 1000000, 1000, 'events kept for `Last-Event-ID` resume'),
  sseMaxBufferedBytes: integer(1024, 1073741824, 1048576, 'an event client with more unsent data than this is disconnected'),
  fpingPath: Type.String({ minLength: 1, default: 'fping', description: 'the fping binary' }),
  monitor: Type.Boolean({ default: true, description: '`false`: nothing is probed (no fping, no disk rounds); statuses still exist — a seam for tests and API-only hosts' }),
  importFrom: Type.Optional(Type.Object({ servers: Type.Optional(Type.String()), layout: Type.Optional(Type.String()) }, {
    additionalProperties: false,
    description: '`{servers, layout}`: import the old estatus-web files at start into an empty store'
  })),
  prefix: Type.Optional(Type.String({ description: 'mount point of the routes' })),
  history: Type.Boolean({ default: true, description: 'record history and serve its routes; off: the routes answer 404' }),
  historyFile: Type.Optional(Type.String({ minLength: 1, description: 'the history database; default `history.sqlite` beside the data file (`data/history.sqlite`)' })),
  retainMinutesH: integer(1, 24 * 366, 48, 'hours the per-minute rows are kept'),
  retainHoursD: integer(1, 36600, 400, 'days the per-hour rows and transitions are kept'),
  retainDaysD: integer(0, 36600, 0, 'days the per-day rows are kept (0 = forever)'),
  auth: Type.Optional(Type.Union(AUTH_MODES.map(mode => Type.Literal(mode)), {
    description: 'who needs a token (SPEC §11); unset: `off` while no token exists, `writes` once one does'
  })),
  tokensFile: Type.Optional(Type.String({ minLength: 1, description: 'the token hashes; default `tokens.json` beside the data file' })),
  allowedHosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }), {
    description: 'more `Host` names accepted while auth is off (the variable: a comma list; DNS-rebinding guard)'
  })),
  authMaxFailures: integer(1, 10000, 10, 'failed token attempts per address and minute before 429'),
  databaseUrl: Type.Optional(Type.String({
    pattern: '^postgres(ql)?://',
    description: 'cluster mode (SPEC §12): `postgres://…`; the configuration, history, alerts, audit, statuses and events live in PostgreSQL, shared by every node; unset: the data file and SQLite'
  })),
  openapi: Type.Boolean({ default: true, description: 'serve `/api/openapi.json` and `/docs` (a host with its own @fastify/swagger turns it off)' })
}, { additionalProperties: false })

/** The standalone server's own settings (not plugin options). */
export const ServerEnvSchema = Type.Object({
  PORT: integer(0, 65535, 3001, 'listening port'),
  HOST: Type.String({ minLength: 1, default: '::', description: 'listening address (`::` also accepts IPv4)' }),
  LOG_LEVEL: Type.Union(LOG_LEVELS.map(level => Type.Literal(level)), { default: 'info', description: 'pino level; secrets never reach the log' })
})

type Schema = typeof EstatusOptionsSchema.properties
/** Seams for tests that no schema can describe. */
export interface TestSeams {
  /** The history's time source; default Date.now. */
  historyClock?: () => number
  /** The audit's time source (its entries' times and their pruning); default Date.now. */
  auditClock?: () => number
  /** The alert rules' time source (forSeconds, re-notify, maintenance windows); default Date.now. */
  alertsClock?: () => number
  /** Alert delivery: back-off and timeouts (SPEC §10 fixes them: 1 s … 1 h for 24 h), the log's pruning clock. */
  alertDelivery?: Pick<AlertOutboxOptions, 'retry' | 'timeouts' | 'clock' | 'pruneIntervalMs'>
}
/** The options after defaults: what the plugin works with. */
export type ResolvedOptions = Static<typeof EstatusOptionsSchema> & TestSeams
/** Plugin options; every one is optional (see `EstatusOptionsSchema` for ranges and defaults). */
export type EstatusOptions = Partial<ResolvedOptions>
export interface ServerSettings { port: number, host: string, logLevel: typeof LOG_LEVELS[number] }

/** The variable of each option that has one (SPEC §1: same meaning as the option). */
export const OPTION_ENV = {
  dataFile: 'ESTATUS_DATA_FILE',
  corsOrigin: 'CORS_ORIGIN',
  pingIntervalMs: 'ESTATUS_PING_INTERVAL_MS',
  pingTimeoutMs: 'ESTATUS_PING_TIMEOUT_MS',
  threshold: 'ESTATUS_THRESHOLD',
  diskIntervalMs: 'ESTATUS_DISK_INTERVAL_MS',
  snmpCommunity: 'ESTATUS_SNMP_COMMUNITY',
  snmpPort: 'ESTATUS_SNMP_PORT',
  heartbeatMs: 'ESTATUS_HEARTBEAT_MS',
  replayEvents: 'ESTATUS_REPLAY_EVENTS',
  fpingPath: 'ESTATUS_FPING_PATH',
  history: 'ESTATUS_HISTORY',
  historyFile: 'ESTATUS_HISTORY_FILE',
  retainMinutesH: 'ESTATUS_RETAIN_MINUTES_H',
  retainHoursD: 'ESTATUS_RETAIN_HOURS_D',
  retainDaysD: 'ESTATUS_RETAIN_DAYS_D',
  auth: 'ESTATUS_AUTH',
  tokensFile: 'ESTATUS_TOKENS_FILE',
  allowedHosts: 'ESTATUS_ALLOWED_HOSTS',
  databaseUrl: 'ESTATUS_DATABASE_URL'
} as const satisfies Partial<Record<keyof Schema, string>>

/**
 * What a value must be, in words: for error messages and the README's table. `variable`:
 * as an environment variable, where a switch is on / off (SPEC §9); true / false still work.
 */
export function describeSchema (schema: TSchema, variable = false): string {
  if (schema.const !== undefined) return `'${schema.const}'`
  if (schema.anyOf !== undefined) {
    const choices = (schema.anyOf as TSchema[]).map(choice => describeSchema(choice, variable))
    return choices.length > 2 ? `one of ${choices.join(', ')}` : choices.join(' or ')
  }
  switch (schema.type) {
    case 'integer': return `an integer from ${schema.minimum} to ${schema.maximum}`
    case 'boolean': return variable ? 'on or off' : 'true or false'
    case 'string': return schema.minLength ? 'a non-empty string' : 'a string'
    case 'array': return `a list of ${describeSchema(schema.items).replace(/^an? /, '')}s`
    default: return 'an object'
  }
}

/**
 * One line naming every invalid key of `data`; `name` gives a key's name as the caller knows
 * it, `variable` says the keys are environment variables.
 */
function describeErrors (errors: ErrorObject[], properties: Record<string, TSchema>, data: Record<string, unknown>, name: (key: string) => string, variable = false) {
  const problems = new Map<string, string>()
  for (const error of errors) {
    const path = error.instancePath.split('/').slice(1)
    if (error.keyword === 'additionalProperties') {
      const key = [...path, error.params.additionalProperty].join('.')
      problems.set(key, `unknown option '${key}'`)
      continue
    }
    const key = path.join('.')
    if (problems.has(key)) continue
    const schema = path.length === 1 ? properties[key] : undefined
    const must = schema === undefined ? error.message : `must be ${describeSchema(schema, variable)}`
    const value = path.reduce<any>((parent, step) => parent?.[step], data)
    problems.set(key, `${name(key)} ${must}, got ${JSON.stringify(value)}`)
  }
  return [...problems.values()].join('; ')
}

const validateOptions = new Ajv({ allErrors: true, useDefaults: true }).compile<Static<typeof EstatusOptionsSchema>>(EstatusOptionsSchema)

/**
 * The options with their defaults, or an error naming every invalid option. Fastify's own
 * register options (`logLevel`, `logSerializers`) reach the plugin too and are not ours.
 */
export function resolveOptions (options: EstatusOptions & { logLevel?: unknown, logSerializers?: unknown }): ResolvedOptions {
  const { logLevel, logSerializers, historyClock, auditClock, alertsClock, alertDelivery, ...ours } = options
  const settings = Object.fromEntries(Object.entries(ours).filter(([, value]) => value !== undefined))
  const seams = Object.fromEntries(Object.entries({ historyClock, auditClock, alertsClock, alertDelivery }).filter(([, value]) => value !== undefined)) as TestSeams
  if (validateOptions(settings)) return { ...settings, ...seams }
  const message = describeErrors(validateOptions.errors ?? [], EstatusOptionsSchema.properties, settings, key => `option '${key}'`)
  throw new Error(`fastify-estatus: invalid options: ${message}`)
}

/**
 * Reads the env of SPEC §1 through the same schema: every variable of `OPTION_ENV` is
 * checked as its option (CORS_ORIGIN, a comma list, is split first). An empty variable
 * counts as unset. Invalid values throw one line naming the variable.
 */
export function optionsFromEnv (env: NodeJS.ProcessEnv): Pick<ResolvedOptions, keyof typeof OPTION_ENV> & ServerSettings {
  const properties: Record<string, TSchema> = { ...ServerEnvSchema.properties }
  for (const [option, name] of Object.entries(OPTION_ENV)) properties[name] = EstatusOptionsSchema.properties[option as keyof Schema]
  const data: Record<string, unknown> = {}
  for (const name of Object.keys(properties)) {
    const raw = env[name]?.trim()
    if (raw) data[name] = raw
  }
  const cors = data.CORS_ORIGIN as string | undefined
  if (cors !== undefined) data.CORS_ORIGIN = cors === '*' ? '*' : cors.split(',').map(origin => origin.trim()).filter(Boolean)
  const hosts = data.ESTATUS_ALLOWED_HOSTS as string | undefined
  if (hosts !== undefined) data.ESTATUS_ALLOWED_HOSTS = hosts.split(',').map(host => host.trim()).filter(Boolean)
  // SPEC §9 says on / off; true / false are read as usual.
  const history = (data.ESTATUS_HISTORY as string | undefined)?.toLowerCase()
  if (history === 'on' || history === 'off') data.ESTATUS_HISTORY = history === 'on'

  let read: Record<string, any>
  try {
    read = envSchema({ schema: Type.Object(properties), data, env: false })
  } catch (err) {
    const errors = (err as { errors?: ErrorObject[] }).errors
    if (errors === undefined) throw err
    throw new Error(describeErrors(errors, properties, env, name => name, true))
  }
  const options = Object.fromEntries(Object.entries(OPTION_ENV).map(([option, name]) => [option, read[name]]))
  return { ...options as Pick<ResolvedOptions, keyof typeof OPTION_ENV>, port: read.PORT, host: read.HOST, logLevel: read.LOG_LEVEL }
}

/**
 * The standalone server's logger: human-readable on a terminal, JSON lines otherwise, and
 * the credential headers censored should a serializer ever log headers.
 */
export function loggerOptions (level: string, terminal: boolean): Exclude<FastifyServerOptions['logger'], boolean | undefined> {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
    ...(terminal ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  }
}
