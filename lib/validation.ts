import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import type { TSchema, Static } from '@sinclair/typebox'
import { ValidationError, type FieldErrors } from './errors.ts'

/**
 * One Ajv for our routes and the store, independent of the host's Ajv options:
 * unknown fields are rejected (not silently removed), nothing is coerced, and every
 * error is reported so a client sees all of its mistakes at once.
 */
export function createAjv (): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    verbose: true,
    coerceTypes: false,
    removeAdditional: false,
    useDefaults: true,
    strict: false
  })
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' })
  return ajv
}

const joinPath = (base: string, key: string) => (base ? `${base}.${key}` : key)
const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`)

function describe (error: ErrorObject): { field: string, message: string } {
  const field = error.instancePath.split('/').slice(1).map(part => part.replace(/~1/g, '/').replace(/~0/g, '~')).join('.')
  const params = error.params as Record<string, any>
  const custom = (error.parentSchema as { errorMessage?: string } | undefined)?.errorMessage
  switch (error.keyword) {
    case 'required': return { field: joinPath(field, params.missingProperty), message: 'is required' }
    case 'additionalProperties': return { field: joinPath(field, params.additionalProperty), message: 'is not a known field' }
    case 'type': return { field, message: `must be ${article(String(params.type))}` }
    case 'minLength': return { field, message: params.limit === 1 ? 'must not be empty' : `must be at least ${params.limit} characters` }
    case 'maxLength': return { field, message: `must be at most ${params.limit} characters` }
    case 'minimum': return { field, message: `must be at least ${params.limit}` }
    case 'maximum': return { field, message: `must be at most ${params.limit}` }
    case 'maxItems': return { field, message: `must have at most ${params.limit} items` }
    case 'uniqueItems': return { field, message: 'must not contain duplicates' }
    case 'enum': return { field, message: `must be one of: ${params.allowedValues.join(', ')}` }
    case 'const': return { field, message: `must be ${JSON.stringify(params.allowedValue)}` }
    case 'pattern': return { field, message: custom ?? 'has an invalid format' }
    default: return { field, message: custom ?? error.message ?? 'is invalid' }
  }
}

/** Ajv errors as `{ "field.path": "message" }`, the first error of each field. */
export function fieldErrors (errors: readonly ErrorObject[], root = ''): FieldErrors {
  const fields: FieldErrors = {}
  for (const error of errors) {
    const { field, message } = describe(error)
    const key = root ? joinPath(root, field) : (field || 'body')
    // Own keys only: an unknown field named `constructor` or `toString` must still be reported
    // (`??=` would see the inherited member), and a defined property never hits a setter.
    if (!Object.hasOwn(fields, key)) Object.defineProperty(fields, key, { value: message, enumerable: true, writable: true, configurable: true })
  }
  return fields
}

/** Validates (applying schema defaults in place) and returns the value typed, or throws a ValidationError. */
export function checker<T extends TSchema> (ajv: Ajv, schema: T): (value: unknown, root?: string) => Static<T> {
  const validate: ValidateFunction = ajv.compile(schema)
  return (value, root = '') => {
    if (!validate(value)) throw new ValidationError(fieldErrors(validate.errors ?? [], root))
    return value as Static<T>
  }
}
