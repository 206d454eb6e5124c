import { createHash } from 'node:crypto'
import type { ServerConfig, GroupConfig } from '../../schemas/config.ts'
import type { AlertRule, Channel, MaintenanceWindow } from '../../schemas/alerts.ts'
import { toPublicServer } from '../normalize.ts'
import { maskChannelSecrets } from '../alert-config.ts'

/** Any item of the document's lists. */
export type StoredItem = ServerConfig | GroupConfig | Channel | AlertRule | MaintenanceWindow

// Stored items never change (they are frozen), so each one's tag is computed once.
const tags = new WeakMap<StoredItem, string>()

/** What clients see of an item: servers with their mirrors, channels masked, the rest as stored. */
const visibleOf = (item: StoredItem) => ('ip' in item ? toPublicServer(item) : maskChannelSecrets(item))

/** The entity tag of an item: a digest of what clients see of it, so it never leaks a secret. */
export function etagOf (item: StoredItem): string {
  let tag = tags.get(item)
  if (tag === undefined) {
    const visible = visibleOf(item)
    tag = '"' + createHash('sha1').update(JSON.stringify(visible)).digest('base64url').slice(0, 20) + '"'
    tags.set(item, tag)
  }
  return tag
}

/**
 * `If-Match` with the strong comparison RFC 9110 §13.1.1 prescribes: a weak tag (`W/"…"`)
 * never matches, `*` matches any current item, no header means no precondition.
 */
export function ifMatchAllows (header: string | undefined, item: StoredItem): boolean {
  if (header === undefined) return true
  const current = etagOf(item)
  return header.split(',').some(candidate => {
    const tag = candidate.trim()
    return tag === '*' || tag === current
  })
}
