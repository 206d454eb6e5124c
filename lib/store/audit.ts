/**
 * What a change did, item by item, for the audit (SPEC §11): kinds, ids and names only —
 * never an item's fields, which may hold secrets. Pure, like the mutations.
 */
import type { StoreDocument } from '../../schemas/config.ts'
import { COLLECTIONS, COLLECTION_KEYS, type CollectionKey } from './collections.ts'
import type { IdKind } from './ids.ts'
import { findById } from './lookup.ts'
import type { AuditItem } from './types.ts'

/** Any item of the document's lists, as the audit names it. */
export interface Named { readonly id: string, readonly name: string }

/** The document's lists and the kind of their items. */
const LISTS: ReadonlyArray<readonly ['servers' | 'groups' | CollectionKey, IdKind]> = [
  ['servers', 'server'],
  ['groups', 'group'],
  ...COLLECTION_KEYS.map(key => [key, COLLECTIONS[key].idKind] as const)
]
const LIST_OF = Object.fromEntries(LISTS.map(([key, kind]) => [kind, key])) as Record<IdKind, typeof LISTS[number][0]>

export const auditItem = (action: AuditItem['action'], kind: IdKind, item: Named): AuditItem =>
  ({ action, kind, id: item.id, name: item.name })

/** The item a delete removed, named as it was in `before` (where the delete found it). */
export function deletedItem (before: StoreDocument, kind: IdKind, id: string): AuditItem {
  return auditItem('delete', kind, findById<Named>(before[LIST_OF[kind]], id)!)
}

/**
 * Every item `after` creates, updates or deletes compared with `before` (an import, a hand
 * edit), list by list in document order. Untouched lists and items are skipped by identity
 * first: the documents share what did not change.
 */
export function changedItems (before: StoreDocument, after: StoreDocument): AuditItem[] {
  const items: AuditItem[] = []
  for (const [key, kind] of LISTS) {
    const old: readonly Named[] = before[key]
    const next: readonly Named[] = after[key]
    if (old === next) continue
    const previous = new Map(old.map(item => [item.id, item]))
    for (const item of next) {
      const was = previous.get(item.id)
      if (was === undefined) items.push(auditItem('create', kind, item))
      else if (was !== item && JSON.stringify(was) !== JSON.stringify(item)) items.push(auditItem('update', kind, item))
      previous.delete(item.id)
    }
    for (const item of previous.values()) items.push(auditItem('delete', kind, item))
  }
  return items
}
