/**
 * Position of an item by id in a committed (immutable) list, from an index built once per
 * list: lookups by id cost O(1) however many servers are stored, and a list the next
 * mutation replaces takes its index with it.
 */
const indexes = new WeakMap<readonly { id: string }[], Map<string, number>>()

export function positionOf (items: readonly { id: string }[], id: string): number {
  let index = indexes.get(items)
  if (index === undefined) {
    index = new Map()
    for (let i = 0; i < items.length; i++) index.set(items[i]!.id, i)
    indexes.set(items, index)
  }
  return index.get(id) ?? -1
}

export function findById<T extends { id: string }> (items: readonly T[], id: string): T | undefined {
  const position = positionOf(items, id)
  return position === -1 ? undefined : items[position]
}
