/**
 * What one write changed in the document, as a small JSON-able list of operations on its
 * top-level fields — generic over what the document holds. Committed documents share every
 * item a mutation did not touch (they are immutable), so the change is found by comparing
 * references: a create is one appended item, an update one replaced item, whatever the size
 * of the lists.
 *
 *   [key, value]                      the field is set to value
 *   [key]                             the field is removed
 *   [key, start, deleteCount, items]  the array field is spliced
 */
export type DeltaOp = [string] | [string, unknown] | [string, number, number, unknown[]]

type Fields = Record<string, unknown>

/** The operations that turn `before` into `after` (both committed documents). */
export function deltaOf (before: object, after: object): DeltaOp[] {
  const previous = before as Fields
  const next = after as Fields
  const ops: DeltaOp[] = []
  for (const key of Object.keys(previous)) {
    if (!Object.hasOwn(next, key) || next[key] === undefined) ops.push([key])
  }
  for (const [key, value] of Object.entries(next)) {
    const old = previous[key]
    if (value === old || value === undefined) continue
    if (!Array.isArray(old) || !Array.isArray(value)) { ops.push([key, value]); continue }
    let start = 0
    while (start < old.length && start < value.length && old[start] === value[start]) start++
    let end = 0
    while (end < old.length - start && end < value.length - start && old[old.length - 1 - end] === value[value.length - 1 - end]) end++
    ops.push([key, start, old.length - start - end, value.slice(start, value.length - end)])
  }
  return ops
}

/** `document` with `ops` applied, as a new object: what they do not touch is shared, as between committed documents. */
export function withDelta<T extends object> (document: T, ops: readonly DeltaOp[]): T {
  const next = { ...document } as Fields
  for (const op of ops) {
    const [key] = op
    if (op.length === 1) delete next[key]
    else if (op.length === 2) next[key] = op[1]
    else {
      const [, start, deleteCount, items] = op
      const list = next[key]
      if (!Array.isArray(list) || start + deleteCount > list.length) throw new Error(`the change of "${key}" does not fit the document`)
      next[key] = list.toSpliced(start, deleteCount, ...items)
    }
  }
  return next as T
}
