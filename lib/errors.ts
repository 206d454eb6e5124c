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

export class ValidationError extends HttpError {
  readonly fields: FieldErrors
  constructor (fields: FieldErrors) {
    super(400, 'Validation failed: ' + Object.entries(fields).map(([field, message]) => `${field}: ${message}`).join('; '))
    this.name = 'ValidationError'
    this.fields = fields
  }
}

export const notFound = (message: string) => new HttpError(404, message)
/** The 404 of an unknown configuration item (SPEC §2). */
export const itemNotFound = (what: 'Server' | 'Group', id: string) => notFound(`${what} with ID '${id}' not found`)
export const conflict = (message: string) => new HttpError(409, message)
export const invalid = (field: string, message: string) => new ValidationError({ [field]: message })

/**
 * Where a JSON text is broken, without quoting it: V8's messages quote the text around
 * the error, which may be a password.
 */
export function describeJsonError (err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : ''
  if (/end of JSON input/.test(message)) return 'the JSON text ends too early'
  const position = /at position (\d+)/.exec(message)?.[1]
  if (position === undefined) return 'the text is not valid JSON'
  const before = text.slice(0, Number(position)).split('\n')
  return `invalid JSON at line ${before.length}, column ${before.at(-1)!.length + 1}`
}
