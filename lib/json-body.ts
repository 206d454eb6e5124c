import { HttpError, ValidationError, describeJsonError, lineAndColumn } from './errors.ts'

/**
 * Shape limits of a JSON request body, checked on the text before it is parsed: V8 needs
 * hundreds of milliseconds for an object of 100,000 keys, and everything after the parser
 * (cloning, normalising, validating) would pay per item or per level. No body of the API
 * comes near them (a server is 4 levels deep with at most 11 fields; the longest array is
 * a group's `serverIds`).
 */
export const JSON_BODY_LIMITS = Object.freeze({ depth: 32, fields: 64, items: 10000 })

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COLON = 0x3a
const COMMA = 0x2c
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d

/** Index of the quote that closes the string opening at `start`, or the text's length. */
function stringEnd (text: string, start: number): number {
  let end = start
  for (;;) {
    end = text.indexOf('"', end + 1)
    if (end === -1) return text.length
    let backslashes = 0
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return end
  }
}

/** The value of a key's string literal (escapes resolved, so `\u005f_proto__` is `__proto__`). */
function keyOf (text: string, start: number, end: number): string {
  const raw = text.slice(start + 1, end)
  if (!raw.includes('\\')) return raw
  try {
    return JSON.parse(text.slice(start, end + 1)) as string
  } catch {
    return raw // a broken escape: JSON.parse reports it with its place afterwards
  }
}

/**
 * One pass over the text, containers only (string contents are skipped with indexOf):
 * refuses a body nested too deeply, an object with too many fields, an array with too
 * many items, a key given twice (parsers disagree on which one counts) and the
 * prototype-poisoning keys `__proto__` and `constructor.prototype`, naming the field.
 * Syntax is left to JSON.parse.
 */
function checkShape (text: string): void {
  const { depth: maxDepth, fields: maxFields, items: maxItems } = JSON_BODY_LIMITS
  // Per open container, 1-based: is it an object, how many commas so far, the current key, the keys seen.
  const isObject: boolean[] = []
  const commas: number[] = []
  const keys: string[] = []
  const seen: Array<Set<string>> = []
  let depth = 0
  let stringStart = -1
  let stringStop = -1

  const path = (levels: number) => {
    const parts: string[] = []
    for (let level = 1; level <= levels; level++) parts.push(isObject[level] ? keys[level]! : String(commas[level]))
    return parts.join('.') || 'body'
  }

  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      stringStart = i
      i = stringStop = stringEnd(text, i)
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (depth === maxDepth) {
        const { line, column } = lineAndColumn(text, i)
        throw new HttpError(400, `JSON body is nested too deeply: more than ${maxDepth} levels of objects and arrays at line ${line}, column ${column}`)
      }
      depth++
      isObject[depth] = c === OPEN_OBJECT
      commas[depth] = 0
      if (c === OPEN_OBJECT) (seen[depth] ??= new Set()).clear()
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth > 0) depth--
    } else if (c === COMMA && depth > 0) {
      if (++commas[depth]! >= (isObject[depth] ? maxFields : maxItems)) {
        throw new ValidationError({ [path(depth - 1)]: isObject[depth] ? `has more than ${maxFields} fields` : `has more than ${maxItems} items` })
      }
    } else if (c === COLON && depth > 0 && isObject[depth] && stringStart >= 0) {
      const key = keyOf(text, stringStart, stringStop)
      keys[depth] = key
      const forbidden = key === '__proto__' || (key === 'prototype' && isObject[depth - 1] && keys[depth - 1] === 'constructor')
      if (forbidden) throw new ValidationError({ [path(depth)]: 'is a forbidden key' })
      if (seen[depth]!.has(key)) throw new ValidationError({ [path(depth)]: 'is given more than once' })
      seen[depth]!.add(key)
    }
  }
}

/**
 * A JSON request body as a value, or a 400 that says what is wrong and where: its shape
 * first (see checkShape), then its syntax, located by line and column without quoting the
 * text (which may hold a password).
 */
export function parseJsonBody (body: string): unknown {
  // A leading byte-order mark is tolerated, as RFC 8259 allows and Fastify's own parser does.
  const text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body
  checkShape(text)
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new HttpError(400, `Malformed JSON body: ${describeJsonError(err, text)}`)
  }
}
