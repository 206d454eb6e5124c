import { visit } from 'jsonc-parser'

/** Errors that carry the HTTP status the API answers with (SPEC §2). */
export class HttpError extends Error {
  readonly statusCode: number
  constructor (statusCode: number, message: string) {
    super(message)
    this.name = 'HttpError'
    this.statusCode = statusCode
  }
}

export type FieldErrors = Record<string, string>

/** How much of a validation failure an answer carries: it stays small whatever was sent. */
export const REPORTED_FIELDS = 20
const FIELD_CHARS = 100
const MESSAGE_CHARS = 200

/**
 * A client's text as a bounded, printable part of an answer: cut to `max` characters, and
 * control characters and lone surrogates (each 6 bytes once JSON-escaped) replaced.
 */
export function clip (text: string, max: number): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text
  // eslint-disable-next-line no-control-regex -- control characters are what this replaces
  return cut.replace(/[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
}

export class ValidationError extends HttpError {
  /** At most REPORTED_FIELDS fields, names and messages clipped. */
  readonly fields: FieldErrors
  /**
   * `unreported` counts problems found beyond `fields` (validation stops early on a huge
   * body); fields beyond REPORTED_FIELDS are counted in as well.
   */
  constructor (fields: FieldErrors, unreported = 0) {
    const entries = Object.entries(fields)
    const reported = entries.slice(0, REPORTED_FIELDS).map(([field, message]) => [clip(field, FIELD_CHARS), clip(message, MESSAGE_CHARS)] as const)
    const more = unreported + entries.length - reported.length
    super(400, 'Validation failed: ' + reported.map(([field, message]) => `${field}: ${message}`).join('; ') + (more > 0 ? `; and ${more} more` : ''))
    this.name = 'ValidationError'
    // fromEntries defines own properties: a field named `__proto__` stays a field.
    this.fields = Object.fromEntries(reported)
  }
}

export const notFound = (message: string) => new HttpError(404, message)
/** The 404 of an unknown configuration item (SPEC §2). */
export const itemNotFound = (what: string, id: string) => notFound(`${what} with ID '${id}' not found`)
export const conflict = (message: string) => new HttpError(409, message)
export const invalid = (field: string, message: string) => new ValidationError({ [field]: message })

/** 1-based line and column of a UTF-16 offset in a text. */
export function lineAndColumn (text: string, offset: number): { line: number, column: number } {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1
  let line = 1
  for (let at = text.indexOf('\n'); at !== -1 && at < lineStart; at = text.indexOf('\n', at + 1)) line++
  return { line, column: offset - lineStart + 1 }
}

/** Where V8 stopped: its messages carry a position, except "Unexpected token", which quotes the text instead. */
function errorOffset (message: string, text: string): number | undefined {
  const position = / at position (\d+)/.exec(message)?.[1]
  if (position !== undefined) return Number(position)
  if (/end of JSON input/.test(message)) return text.length
  // Stopped at the first error; a text too deep for jsonc-parser's recursion stays unlocated.
  let offset: number | undefined
  try {
    visit(text, { onError: (_code, at) => { offset = at; throw new Error('located') } }, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false })
  } catch {}
  return offset
}

/**
 * What is wrong with a JSON text and where (line, column), without quoting it: V8's
 * messages quote the text around the error, which may be a password.
 */
export function describeJsonError (err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : ''
  const problem = / at position /.test(message)
    ? message.replace(/( in JSON)? at position .*$/s, '')
    : /end of JSON input/.test(message) ? 'the JSON text ends too early' : 'unexpected character'
  const offset = errorOffset(message, text)
  if (offset === undefined) return 'the text is not valid JSON'
  const { line, column } = lineAndColumn(text, offset)
  return `${problem.charAt(0).toLowerCase()}${problem.slice(1)} at line ${line}, column ${column}`
}
