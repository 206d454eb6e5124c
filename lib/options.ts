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
  /** Record history and serve its routes (ESTATUS_HISTORY=off turns it off; default on). */
  history?: boolean
  /** The history database (ESTATUS_HISTORY_FILE), default `history.sqlite` beside the data file (`data/history.sqlite`). */
  historyFile?: string
  /** Hours the per-minute rows are kept (ESTATUS_RETAIN_MINUTES_H, 48). */
  retainMinutesH?: number
  /** Days the per-hour rows and transitions are kept (ESTATUS_RETAIN_HOURS_D, 400). */
  retainHoursD?: number
  /** Days the per-day rows are kept (ESTATUS_RETAIN_DAYS_D, 0 = forever). */
  retainDaysD?: number
  /** The history's time source (tests drive it); default Date.now. */
  historyClock?: () => number
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
  history: true,
  retainMinutesH: 48,
  retainHoursD: 400,
  retainDaysD: 0
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

function onOff (env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = env[name]?.trim().toLowerCase()
  if (raw === undefined || raw === '') return undefined
  if (raw === 'on') return true
  if (raw === 'off') return false
  throw new Error(`${name} must be 'on' or 'off', got '${env[name]}'`)
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
    history: onOff(env, 'ESTATUS_HISTORY'),
    historyFile: env.ESTATUS_HISTORY_FILE || undefined,
    retainMinutesH: integer(env, 'ESTATUS_RETAIN_MINUTES_H', 1, 24 * 366),
    retainHoursD: integer(env, 'ESTATUS_RETAIN_HOURS_D', 1, 36600),
    retainDaysD: integer(env, 'ESTATUS_RETAIN_DAYS_D', 0, 36600)
  }
}
