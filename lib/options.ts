import type { FastifyServerOptions } from 'fastify'
import { AUTH_MODES, type AuthMode } from '../schemas/auth.ts'

/** Plugin options; each has the env var of SPEC §1 with the same meaning (see `optionsFromEnv`). */
export interface EstatusOptions {
  /** The data file (ESTATUS_DATA_FILE), default `data/estatus.json` under the working directory. */
  dataFile?: string
  /** Pick up hand edits of the data file while running (default true). */
  watchDataFile?: boolean
  /** Allowed CORS origins (CORS_ORIGIN: comma list or `*`); default same-origin only. */
  corsOrigin?: string[] | '*'
  pingIntervalMs?: number
  pingTimeoutMs?: number
  /** Default consecutive successes/failures to flip online/offline (ESTATUS_THRESHOLD). */
  threshold?: number
  diskIntervalMs?: number
  snmpCommunity?: string
  snmpPort?: number
  /** HTTPS port of the NetApp filers' management interface (443). */
  netappPort?: number
  heartbeatMs?: number
  /** How many events the SSE replay buffer keeps for Last-Event-ID resume. */
  replayEvents?: number
  /** An event stream client whose unsent data exceeds this many bytes is disconnected (default 1 MiB). */
  sseMaxBufferedBytes?: number
  /** Path of the fping binary (default `fping` on PATH). */
  fpingPath?: string
  /** Import the old estatus-web files at start when the store is still empty (SPEC §7). */
  importFrom?: { servers?: string, layout?: string }
  /** Mount point of the routes, when the host does not wrap the plugin in its own prefix. */
  prefix?: string
  /** ESTATUS_AUTH (SPEC §11); default `off` while no token exists, `writes` once one does. */
  auth?: AuthMode
  /** ESTATUS_TOKENS_FILE: the token hashes, default `tokens.json` beside the data file. */
  tokensFile?: string
  /** ESTATUS_ALLOWED_HOSTS: more `Host` names accepted while auth is off (DNS-rebinding guard). */
  allowedHosts?: string[]
  /** Failed token attempts per address and minute before 429 (default 10). */
  authMaxFailures?: number
  /** Serve `/api/openapi.json` and `/docs` (default true; a host with its own @fastify/swagger turns it off). */
  openapi?: boolean
}

const DEFAULTS = {
  dataFile: 'data/estatus.json',
  pingIntervalMs: 1000,
  pingTimeoutMs: 5000,
  threshold: 4,
  diskIntervalMs: 60000,
  snmpCommunity: 'public',
  snmpPort: 161,
  netappPort: 443,
  heartbeatMs: 30000,
  replayEvents: 1000,
  authMaxFailures: 10,
  openapi: true
} as const

export type ResolvedOptions = Required<Pick<EstatusOptions, keyof typeof DEFAULTS>> & EstatusOptions

export function resolveOptions (options: EstatusOptions): ResolvedOptions {
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined))
  return { ...DEFAULTS, ...defined }
}

function integer (env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got '${raw}'`)
  }
  return value
}

/** Reads the env of SPEC §1. Invalid values stop the start with a message naming the variable. */
export function optionsFromEnv (env: NodeJS.ProcessEnv): EstatusOptions & { port: number, host: string, logLevel: string } {
  const cors = env.CORS_ORIGIN?.trim()
  return {
    port: integer(env, 'PORT', 0, 65535) ?? 3001,
    host: env.HOST || '::',
    logLevel: env.LOG_LEVEL || 'info',
    dataFile: env.ESTATUS_DATA_FILE || undefined,
    corsOrigin: cors ? (cors === '*' ? '*' : cors.split(',').map(origin => origin.trim()).filter(Boolean)) : undefined,
    pingIntervalMs: integer(env, 'ESTATUS_PING_INTERVAL_MS', 100, 3600000),
    pingTimeoutMs: integer(env, 'ESTATUS_PING_TIMEOUT_MS', 50, 60000),
    threshold: integer(env, 'ESTATUS_THRESHOLD', 1, 10),
    diskIntervalMs: integer(env, 'ESTATUS_DISK_INTERVAL_MS', 1000, 86400000),
    snmpCommunity: env.ESTATUS_SNMP_COMMUNITY || undefined,
    snmpPort: integer(env, 'ESTATUS_SNMP_PORT', 1, 65535),
    heartbeatMs: integer(env, 'ESTATUS_HEARTBEAT_MS', 1000, 3600000),
    replayEvents: integer(env, 'ESTATUS_REPLAY_EVENTS', 0, 1000000),
    fpingPath: env.ESTATUS_FPING_PATH || undefined,
    auth: authMode(env.ESTATUS_AUTH),
    tokensFile: env.ESTATUS_TOKENS_FILE || undefined,
    allowedHosts: list(env.ESTATUS_ALLOWED_HOSTS)
  }
}

function list (raw: string | undefined): string[] | undefined {
  const items = raw?.split(',').map(item => item.trim()).filter(Boolean)
  return items?.length ? items : undefined
}

function authMode (raw: string | undefined): AuthMode | undefined {
  if (raw === undefined || raw === '') return undefined
  if (!(AUTH_MODES as readonly string[]).includes(raw)) throw new Error(`ESTATUS_AUTH must be one of ${AUTH_MODES.join(', ')}, got '${raw}'`)
  return raw as AuthMode
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
