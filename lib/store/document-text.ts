// Committed items never change (they are frozen), so each one is serialized once: a write
// of 50,000 servers joins 50,000 cached strings instead of stringifying 6 MB again.
const fragments = new WeakMap<object, string>()

/** Items per chunk of text: a few hundred KB, so a rewrite of 50,000 servers yields to other work between chunks. */
const ITEMS_PER_CHUNK = 1000

/** A value as `JSON.stringify(document, null, 2)` prints it at `depth` (its first line unindented). */
function indented (value: unknown, depth: number): string {
  // JSON escapes newlines inside strings, so every newline here is layout.
  return JSON.stringify(value, null, 2).replaceAll('\n', '\n' + '  '.repeat(depth))
}

/** An array item (depth 2), cached when it is an object. */
function fragment (item: unknown): string {
  if (typeof item !== 'object' || item === null) return indented(item, 2)
  let text = fragments.get(item)
  if (text === undefined) {
    text = indented(item, 2)
    fragments.set(item, text)
  }
  return text
}

/**
 * The data file's text in chunks: together the same as `JSON.stringify(document, null, 2) + '\n'`,
 * built from cached per-item parts. Generic over the document's fields: every top-level array
 * is written item by item, every other value as it is.
 */
export function * documentChunks (document: object): Generator<string> {
  const fields = Object.entries(document).filter(([, value]) => value !== undefined && typeof value !== 'function')
  if (fields.length === 0) { yield '{}\n'; return }
  let text = '{'
  for (const [n, [key, value]] of fields.entries()) {
    text += `${n === 0 ? '' : ','}\n  ${JSON.stringify(key)}: `
    if (!Array.isArray(value) || value.length === 0) {
      text += indented(value, 1)
      continue
    }
    text += '[\n    '
    for (let start = 0; start < value.length; start += ITEMS_PER_CHUNK) {
      text += (start === 0 ? '' : ',\n    ') + value.slice(start, start + ITEMS_PER_CHUNK).map(fragment).join(',\n    ')
      yield text
      text = ''
    }
    text += '\n  ]'
  }
  yield text + '\n}\n'
}

/** The data file's text: the same as `JSON.stringify(document, null, 2) + '\n'`, from cached parts. */
export function documentText (document: object): string {
  return [...documentChunks(document)].join('')
}
