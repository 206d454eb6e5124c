/**
 * The rules of the alert configuration (SPEC §10) that its schemas cannot express, and what
 * clients see of it. Pure: checked against a document, never touching it.
 */
import { CHANNEL_FIELDS, CHANNEL_SECRETS, ChannelVariant, RESERVED_HEADERS, type AlertRule, type AlertScope, type Channel, type MaintenanceWindow } from '../schemas/alerts.ts'
import { SECRET_MASK } from '../schemas/common.ts'
import type { StoreDocument } from '../schemas/config.ts'
import { ValidationError, conflict, type FieldErrors } from './errors.ts'
import { dropUndefined, keptSecret, mask } from './normalize.ts'
import { positionOf } from './store/lookup.ts'
import { inSchemaOrder } from './validation.ts'

const at = (root: string, field: string) => (root ? `${root}.${field}` : field)

function throwIfAny (fields: FieldErrors) {
  if (Object.keys(fields).length > 0) throw new ValidationError(fields)
}

const isChannel = (item: object): item is Channel =>
  'type' in item && typeof item.type === 'string' && Object.hasOwn(CHANNEL_FIELDS, item.type)

/** Whose URL is the credential: a Slack or Teams incoming webhook carries its token in the path and query. */
const urlIsSecret = (channel: Channel): channel is Extract<Channel, { type: 'slack' | 'teams' }> =>
  channel.type === 'slack' || channel.type === 'teams'

/** A Slack or Teams URL as clients see it: the origin, then the mask (`https://hooks.slack.com/********`). */
const maskedUrl = (url: string) => (URL.canParse(url) ? `${new URL(url).origin}/${SECRET_MASK}` : SECRET_MASK)

/** Header names ignore case: the stored value of a header, found whatever case the client sends. */
const headerValues = (headers: Record<string, string> | undefined) =>
  new Map(Object.entries(headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]))

/**
 * A channel as every client sees it (answers, exports without secrets, the ETag's input):
 * `secret` and `password` masked (SPEC §3.4), every webhook header value masked (an
 * `Authorization` header is the usual use), and a Slack or Teams URL cut to its origin and
 * the mask. Any other item is returned as is.
 */
export function maskChannelSecrets<T extends object> (item: T): T {
  if (!isChannel(item)) return item
  const masked: Record<string, unknown> = { ...item }
  for (const field of CHANNEL_SECRETS) if (field in masked) masked[field] = mask(masked[field] as string)
  if (item.type === 'webhook' && item.headers !== undefined) {
    masked.headers = Object.fromEntries(Object.entries(item.headers).map(([name, value]) => [name, mask(value) ?? '']))
  }
  if (urlIsSecret(item)) masked.url = maskedUrl(item.url)
  return dropUndefined(masked) as T
}

/**
 * On update a secret that comes back masked, empty or absent keeps the stored one (SPEC §3.4),
 * as for servers; so does a header value sent back masked or empty, and a Slack or Teams URL
 * sent back as it was masked. Only from a channel of the same type, so a changed type starts clean.
 */
export function keepChannelSecrets (next: Channel, stored: Channel | undefined): Channel {
  const kept: Record<string, unknown> = { ...next }
  const previous = stored?.type === next.type ? stored : undefined
  for (const field of CHANNEL_SECRETS) {
    if (field in CHANNEL_FIELDS[next.type]) kept[field] = keptSecret(kept[field], (previous as Record<string, unknown> | undefined)?.[field])
  }
  if (next.type === 'webhook' && next.headers !== undefined) {
    const before = headerValues(previous?.type === 'webhook' ? previous.headers : undefined)
    kept.headers = Object.fromEntries(Object.entries(next.headers).map(([name, value]) => [name, keptSecret(value, before.get(name.toLowerCase())) ?? value]))
  }
  if (urlIsSecret(next) && previous !== undefined && urlIsSecret(previous) && next.url === maskedUrl(previous.url)) kept.url = previous.url
  // A kept secret the body left out goes back to its place: the same item, the same text and ETag.
  return inSchemaOrder(dropUndefined(kept), ChannelVariant[next.type]) as Channel
}

const reserved = new Set<string>(RESERVED_HEADERS)

/**
 * The masked header values and URL still there once the stored values are kept: nothing was
 * stored to keep, and the mask would become the value (refused, naming each field).
 */
export function maskedWithoutValue (channel: Channel): string[] {
  const fields = urlIsSecret(channel) && channel.url === maskedUrl(channel.url) ? ['url'] : []
  if (channel.type === 'webhook') {
    for (const [name, value] of Object.entries(channel.headers ?? {})) if (value === SECRET_MASK) fields.push(`headers.${name}`)
  }
  return fields
}

export function checkChannel (channel: Channel, root = '') {
  const fields: FieldErrors = {}
  for (const field of maskedWithoutValue(channel)) fields[at(root, field)] = 'is masked and no value is stored for it: send the value itself'
  if (channel.type === 'webhook' && channel.headers !== undefined) {
    const seen = new Set<string>()
    for (const name of Object.keys(channel.headers)) {
      const key = name.toLowerCase()
      if (reserved.has(key)) fields[at(root, `headers.${name}`)] = `is set by the sender or the connection and cannot be set (${RESERVED_HEADERS.join(', ')})`
      else if (seen.has(key)) fields[at(root, `headers.${name}`)] = 'is given twice (header names ignore case)'
      seen.add(key)
    }
  }
  throwIfAny(fields)
}

/** Every id of a scope names an existing server or group. */
function checkScope (scope: AlertScope, document: StoreDocument, root: string, fields: FieldErrors) {
  scope.serverIds.forEach((id, i) => {
    if (positionOf(document.servers, id) === -1) fields[at(root, `scope.serverIds.${i}`)] = `unknown server '${id}'`
  })
  scope.groupIds.forEach((id, i) => {
    if (positionOf(document.groups, id) === -1) fields[at(root, `scope.groupIds.${i}`)] = `unknown group '${id}'`
  })
}

export function checkAlertRule (rule: AlertRule, document: StoreDocument, root = '') {
  const fields: FieldErrors = {}
  if (rule.on.includes('disk') && rule.diskPercent === undefined && rule.diskDaysToFull === undefined) {
    fields[at(root, 'diskPercent')] = 'is required (or diskDaysToFull) when `on` includes "disk"'
  }
  rule.channelIds.forEach((id, i) => {
    if (positionOf(document.channels, id) === -1) fields[at(root, `channelIds.${i}`)] = `unknown channel '${id}'`
  })
  checkScope(rule.scope, document, root, fields)
  throwIfAny(fields)
}

const PERIOD_MS = { day: 86_400_000, week: 7 * 86_400_000 }

export function checkMaintenance (window: MaintenanceWindow, document: StoreDocument, root = '') {
  const fields: FieldErrors = {}
  // The date-time format lets through what Date cannot read (a leap second, 23:59:60): it would compare as NaN, never false.
  const dates = { start: window.start, end: window.end, 'repeat.until': window.repeat?.until }
  for (const [field, text] of Object.entries(dates)) {
    if (text !== undefined && Number.isNaN(Date.parse(text))) fields[at(root, field)] = `'${text}' is not a date this server can read`
  }
  throwIfAny(fields)
  const start = Date.parse(window.start)
  const length = Date.parse(window.end) - start
  if (length <= 0) fields[at(root, 'end')] = 'must be after start'
  else if (window.repeat !== undefined && length >= PERIOD_MS[window.repeat.every]) {
    fields[at(root, 'end')] = `must be less than a ${window.repeat.every} after start when the window repeats every ${window.repeat.every}`
  }
  if (window.repeat?.until !== undefined && Date.parse(window.repeat.until) <= start) fields[at(root, 'repeat.until')] = 'must be after start'
  checkScope(window.scope, document, root, fields)
  throwIfAny(fields)
}

/** A channel that rules still send to is not deleted: the rules would go silent unnoticed. */
export function checkChannelRemoval (document: StoreDocument, channel: Channel) {
  const users = document.alertRules.filter(rule => rule.channelIds.includes(channel.id))
  if (users.length === 0) return
  const named = users.slice(0, 10).map(rule => `'${rule.id}'`).join(', ') + (users.length > 10 ? ` and ${users.length - 10} more` : '')
  throw conflict(`Channel with ID '${channel.id}' is used by the alert rules ${named}: remove it from them first`)
}

/** The scope without `id`, and whether it is empty now (which would mean every server). */
function narrowed<T extends { scope: AlertScope }> (item: T, field: keyof AlertScope, id: string): { item: T, emptied: boolean } | undefined {
  if (!item.scope[field].includes(id)) return undefined
  const scope = { ...item.scope, [field]: item.scope[field].filter(scoped => scoped !== id) }
  return { item: { ...item, scope }, emptied: scope.serverIds.length === 0 && scope.groupIds.length === 0 }
}

/**
 * Rules and windows after a server or group is deleted (in the same write). A scope emptied
 * by the deletion would mean "every server": the rule is disabled and the window removed
 * instead, so a deletion never widens what alerts or what is silenced.
 */
export function withoutScoped (document: StoreDocument, field: keyof AlertScope, id: string): Pick<StoreDocument, 'alertRules' | 'maintenance'> {
  let rulesTouched = false
  const alertRules = document.alertRules.map(rule => {
    const next = narrowed(rule, field, id)
    if (next === undefined) return rule
    rulesTouched = true
    return next.emptied ? { ...next.item, enabled: false } : next.item
  })
  let windowsTouched = false
  const maintenance = document.maintenance.flatMap((window: MaintenanceWindow) => {
    const next = narrowed(window, field, id)
    if (next === undefined) return [window]
    windowsTouched = true
    return next.emptied ? [] : [next.item]
  })
  return {
    alertRules: rulesTouched ? alertRules : document.alertRules,
    maintenance: windowsTouched ? maintenance : document.maintenance
  }
}
