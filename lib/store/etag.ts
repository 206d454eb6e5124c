import { createHash } from 'node:crypto'
import type { ServerConfig, GroupConfig } from '../../schemas/config.ts'
import { toPublicServer } from '../normalize.ts'

// Stored items never change (they are frozen), so each one's tag is computed once.
const tags = new WeakMap<ServerConfig | GroupConfig, string>()

/** The entity tag of an item: a digest of what clients see of it, so it never leaks a secret. */
export function etagOf (item: ServerConfig | GroupConfig): string {
  let tag = tags.get(item)
  if (tag === undefined) {
    const visible = 'ip' in item ? toPublicServer(item) : item
    tag = '"' + createHash('sha1').update(JSON.stringify(visible)).digest('base64url').slice(0, 20) + '"'
    tags.set(item, tag)
  }
  return tag
}

/**
 * `If-Match` with the strong comparison RFC 9110 §13.1.1 prescribes: a weak tag (`W/"…"`)
 * never matches, `*` matches any current item, no header means no precondition.
 */
export function ifMatchAllows (header: string | undefined, item: ServerConfig | GroupConfig): boolean {
  if (header === undefined) return true
  const current = etagOf(item)
  return header.split(',').some(candidate => {
    const tag = candidate.trim()
    return tag === '*' || tag === current
  })
}
