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
export const conflict = (message: string) => new HttpError(409, message)
export const invalid = (field: string, message: string) => new ValidationError({ [field]: message })
