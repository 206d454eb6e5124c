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

/**
 * `items` with `item` appended, or put at `position`: the new list takes the old list's index
 * over (updated, not rebuilt), so a create or an update stays O(1) in lookups with 50,000
 * servers stored. The old list loses it and would build its own again if asked.
 */
export function withItem<T extends { id: string }> (items: readonly T[], item: T, position = items.length): T[] {
  const next = position === items.length ? [...items, item] : items.with(position, item)
  const index = indexes.get(items)
  if (index !== undefined && (position === items.length || items[position]!.id === item.id)) {
    indexes.delete(items)
    index.set(item.id, position)
    indexes.set(next, index)
  }
  return next
}
