import type { Alert } from '../../schemas/alerts.ts'

/** What every channel shows of an alert, in words: a title, the message, then facts. */

export interface Fact { title: string, value: string }

const KIND_WORD: Record<Alert['kind'], string> = { down: 'DOWN', up: 'UP', disk: 'DISK', test: 'TEST' }
/** A storm alert lists at most this many servers by name; the count says the rest. */
const LISTED_SERVERS = 50

export function alertTitle (alert: Alert): string {
  const word = KIND_WORD[alert.kind]
  if (alert.kind === 'test') return `${word}: a test alert from fastify-estatus`
  if (alert.storm !== undefined) return `${word}: ${alert.storm.servers.length} servers of group ${alert.storm.group.name}`
  if (alert.disk !== undefined) return `${word}: ${alert.server.name} ${alert.disk.name} at ${alert.disk.percentage}%`
  return `${word}: ${alert.server.name} (${alert.server.ip})`
}

function duration (seconds: number): string {
  const parts = [[Math.floor(seconds / 86400), 'd'], [Math.floor(seconds / 3600) % 24, 'h'], [Math.floor(seconds / 60) % 60, 'min'], [seconds % 60, 's']] as const
  const shown = parts.filter(([value]) => value > 0).map(([value, unit]) => `${value} ${unit}`)
  return shown.length === 0 ? '0 s' : shown.slice(0, 2).join(' ')
}

export function alertFacts (alert: Alert): Fact[] {
  if (alert.kind === 'test') return [{ title: 'Sent at', value: alert.at }, { title: 'Alert', value: alert.id }]
  const facts: Fact[] = []
  if (alert.storm !== undefined) {
    const names = alert.storm.servers.slice(0, LISTED_SERVERS).map(server => `${server.name} (${server.ip})`)
    const more = alert.storm.servers.length - names.length
    facts.push({ title: 'Servers', value: names.join(', ') + (more > 0 ? ` and ${more} more` : '') })
  } else {
    facts.push({ title: 'Server', value: `${alert.server.name} (${alert.server.ip})` })
  }
  if (alert.groups.length > 0) facts.push({ title: 'Groups', value: alert.groups.join(', ') })
  facts.push({ title: 'Since', value: alert.since })
  if (alert.durationSeconds !== undefined) facts.push({ title: 'Duration', value: duration(alert.durationSeconds) })
  if (alert.disk !== undefined) {
    const full = alert.disk.daysToFull === undefined ? '' : `, full in ${Math.round(alert.disk.daysToFull * 10) / 10} days`
    facts.push({ title: 'Disk', value: `${alert.disk.name} at ${alert.disk.percentage}%${full}` })
  }
  facts.push({ title: 'Rule', value: alert.rule.name }, { title: 'Alert', value: alert.id })
  return facts
}

/** The alert as plain text: the e-mail body, and the text of chat notifications. */
export function alertText (alert: Alert): string {
  return [alertTitle(alert), '', alert.message, '', ...alertFacts(alert).map(fact => `${fact.title}: ${fact.value}`)].join('\n')
}
