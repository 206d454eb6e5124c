/** The human-readable `message` of each alert: one line a pager or a phone can show. */

interface Named { name: string, ip: string }

/** 3725 → "1h 2m 5s"; 0 → "0s". */
export function formatDuration (seconds: number): string {
  const parts: string[] = []
  let rest = Math.max(0, Math.round(seconds))
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`)
      rest %= size
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}s`)
  return parts.join(' ')
}

const who = (server: Named) => `${server.name} (${server.ip})`
/** At most this many servers are named in one storm message; the alert's `storm.servers` has them all. */
const NAMED_IN_MESSAGE = 10

function serverList (servers: readonly Named[]) {
  const named = servers.slice(0, NAMED_IN_MESSAGE).map(who).join(', ')
  return servers.length > NAMED_IN_MESSAGE ? `${named} and ${servers.length - NAMED_IN_MESSAGE} more` : named
}

export const downMessage = (server: Named, since: string, durationSeconds: number, repeat: boolean) =>
  `${repeat ? 'STILL DOWN' : 'DOWN'}: ${who(server)} has been down for ${formatDuration(durationSeconds)} (since ${since})`

export const upMessage = (server: Named, downSeconds: number) =>
  `UP: ${who(server)} is up again after ${formatDuration(downSeconds)} down`

export function stormDownMessage (group: string, servers: readonly Named[], groupSize: number, first: boolean, repeat: boolean) {
  const count = `${servers.length} ${servers.length === 1 ? 'server' : 'servers'}`
  if (repeat) return `STILL DOWN: ${count} of group ${group} (of ${groupSize}): ${serverList(servers)}`
  if (first) return `DOWN: ${count} of group ${group} (of ${groupSize}) went down together: ${serverList(servers)}`
  return `DOWN: ${count} more of group ${group} (of ${groupSize}) went down with it: ${serverList(servers)}`
}

export const stormUpMessage = (group: string, servers: readonly Named[], downSeconds: number) =>
  `UP: all ${servers.length} servers of group ${group} that went down together are up again after ${formatDuration(downSeconds)}: ${serverList(servers)}`

export const diskPercentMessage = (server: Named, disk: string, percentage: number, threshold: number, repeat: boolean) =>
  `${repeat ? 'STILL ' : ''}DISK: ${who(server)} disk ${disk} is ${percentage}% full (alert at ${threshold}%)`

export const diskDaysMessage = (server: Named, disk: string, percentage: number, daysToFull: number, threshold: number, repeat: boolean) =>
  `${repeat ? 'STILL ' : ''}DISK: ${who(server)} disk ${disk} (${percentage}% full) will be full in ${daysToFull.toFixed(1)} days at its growth of the last 14 days (alert at ${threshold} days)`
