import type { ServerConfig } from '../../schemas/config.ts'
import type { Entry, MonitorContext } from './entry.ts'

const COUNTER_CAP = 1000

/**
 * The online/offline state machine of SPEC §6.1: run lengths of successes and failures,
 * a flip after a server's own threshold (or the default), only a flip published.
 */
export function createStateMachine (ctx: MonitorContext, defaultThreshold: number) {
  const threshold = (server: ServerConfig, kind: 'consecutiveSuccesses' | 'consecutiveFailures') => server[kind] ?? defaultThreshold

  function setOnline (entry: Entry, isOnline: boolean, timestamp: string) {
    const { status, server } = entry
    status.isOnline = isOnline
    status.lastStatusChange = timestamp
    ctx.publish({
      type: 'statusChange',
      update: {
        serverId: server.id,
        name: server.name,
        ip: server.ip,
        isOnline,
        previousStatus: !isOnline,
        timestamp,
        ...(status.maintenance === true ? { maintenance: true } : {})
      }
    })
  }

  /** One probe outcome through the state machine of SPEC §6.1; only a flip is published. */
  function record (entry: Entry, alive: boolean, detail: { rttMs?: number, error?: string }) {
    const { status, server } = entry
    const at = Date.now()
    const timestamp = new Date(at).toISOString()
    status.lastChecked = timestamp
    if (alive) {
      status.consecutiveSuccesses = Math.min(COUNTER_CAP, status.consecutiveSuccesses + 1)
      status.consecutiveFailures = 0
      if (detail.rttMs !== undefined) status.responseTimeMs = detail.rttMs
      delete status.lastError
      if (!status.isOnline && status.consecutiveSuccesses >= threshold(server, 'consecutiveSuccesses')) setOnline(entry, true, timestamp)
    } else {
      status.consecutiveFailures = Math.min(COUNTER_CAP, status.consecutiveFailures + 1)
      status.consecutiveSuccesses = 0
      delete status.responseTimeMs
      status.lastError = detail.error ?? 'no reply'
      if (status.isOnline && status.consecutiveFailures >= threshold(server, 'consecutiveFailures')) setOnline(entry, false, timestamp)
    }
    ctx.emit({
      kind: 'ping',
      serverId: server.id,
      at,
      alive,
      ...(alive && detail.rttMs !== undefined ? { rttMs: detail.rttMs } : {}),
      isOnline: status.isOnline
    })
  }

  return { record, setOnline }
}
