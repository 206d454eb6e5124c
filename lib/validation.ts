import { isIP } from 'node:net'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import ajvFormats from 'ajv-formats'
import type { TSchema, Static } from '@sinclair/typebox'
import { REPORTED_FIELDS, ValidationError, type FieldErrors } from './errors.ts'

const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
// What resolvers (inet_aton, WHATWG URL) read as an IPv4 number: `2130706433`, `0x7f.1`, `0177.0.0.1`.
const NUMERIC_LABEL = /^(\d+|0x[0-9a-f]*)$/i

/**
 * A probe target: a canonical IP literal (`isIP`: dotted-quad IPv4 without leading zeros,
 * or IPv6), or a hostname of RFC 1123 labels (one trailing dot allowed) whose last label is
 * not a number, since resolvers read such a name as an address in a legacy form.
 */
export function isProbeTarget (value: string): boolean {
  if (isIP(value) !== 0) return true
  const name = value.endsWith('.') ? value.slice(0, -1) : value
  const labels = name.split('.')
  return name.length <= 253 && labels.every(label => HOST_LABEL.test(label)) && !NUMERIC_LABEL.test(labels.at(-1)!)
}

/**
 * One Ajv for our routes and the store, independent of the host's Ajv options:
 * unknown fields are rejected (not silently removed), nothing is coerced, and every
 * error is reported so a client sees all of its mistakes at once (`checker` bounds that work).
 */
export function createAjv ({ allErrors = true } = {}): Ajv {
  const ajv = new Ajv({
    allErrors,
    verbose: true,
    coerceTypes: false,
    removeAdditional: false,
    useDefaults: true,
    strict: false
  })
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' })
  ajv.addFormat('probe-target', { type: 'string', validate: isProbeTarget })
  // RFC 3339 with a time zone (maintenance windows): a date without one means another instant on every host.
  // A CommonJS module: its default import is `module.exports`, which carries the plugin as `default` too.
  ajvFormats.default(ajv, ['date-time'])
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
    case 'minItems': return { field, message: params.limit === 1 ? 'must not be empty' : `must have at least ${params.limit} items` }
    case 'maxItems': return { field, message: `must have at most ${params.limit} items` }
    case 'maxProperties': return { field, message: `must have at most ${params.limit} fields` }
    case 'uniqueItems': return { field, message: 'must not contain duplicates' }
    case 'enum': return { field, message: `must be one of: ${params.allowedValues.join(', ')}` }
    case 'const': return { field, message: `must be ${JSON.stringify(params.allowedValue)}` }
    case 'pattern': return { field, message: custom ?? 'has an invalid format' }
    default: return { field, message: custom ?? error.message ?? 'is invalid' }
  }
}

/**
 * Ajv errors as `{ "field.path": "message" }`, the first error of each field, at most
 * REPORTED_FIELDS fields; the count of the others comes second.
 */
export function fieldErrors (errors: readonly ErrorObject[], root = ''): [FieldErrors, number] {
  const fields: FieldErrors = {}
  const unreported = new Set<string>()
  let reported = 0
  for (const error of errors) {
    const { field, message } = describe(error)
    const key = root ? joinPath(root, field) : (field || 'body')
    if (Object.hasOwn(fields, key)) continue
    if (reported === REPORTED_FIELDS) { unreported.add(key); continue }
    // Own keys only: an unknown field named `constructor` or `toString` must still be reported
    // (`??=` would see the inherited member), and a defined property never hits a setter.
    Object.defineProperty(fields, key, { value: message, enumerable: true, writable: true, configurable: true })
    reported++
  }
  return [fields, unreported.size]
}

/**
 * The size keywords of a schema alone (`maxItems`, `maxProperties`, down through `items`
 * and `properties`), or undefined when it has none.
 */
function sizeLimits (schema: Record<string, any>): Record<string, unknown> | undefined {
  const limits: Record<string, any> = {}
  if (schema.maxItems !== undefined) limits.maxItems = schema.maxItems
  if (schema.maxProperties !== undefined) limits.maxProperties = schema.maxProperties
  const items = typeof schema.items === 'object' ? sizeLimits(schema.items) : undefined
  if (items) limits.items = items
  for (const [name, property] of Object.entries<Record<string, any>>(schema.properties ?? {})) {
    const inner = sizeLimits(property)
    if (inner) (limits.properties ??= {})[name] = inner
  }
  return Object.keys(limits).length > 0 ? limits : undefined
}

/**
 * Validates (applying schema defaults in place) and returns the value typed, or throws a
 * ValidationError. Ajv with allErrors checks every item of an array that is already too
 * long, so the size limits are checked first on their own, stopping at the first one
 * broken: the work for any value is bounded by the schema's limits, not by its size.
 */
export function checker<T extends TSchema> (ajv: Ajv, schema: T): (value: unknown, root?: string) => Static<T> {
  const validate: ValidateFunction = ajv.compile(schema)
  const limits = sizeLimits(schema)
  const withinLimits = limits && createAjv({ allErrors: false }).compile(limits)
  const fail = (errors: readonly ErrorObject[], root: string) => new ValidationError(...fieldErrors(errors, root))
  return (value, root = '') => {
    if (withinLimits && !withinLimits(value)) throw fail(withinLimits.errors ?? [], root)
    if (!validate(value)) throw fail(validate.errors ?? [], root)
    return value as Static<T>
  }
}

/**
 * The object's fields in its schema's order, the others after them: Ajv adds defaults last,
 * and a stored item should read like its schema (`id`, `name`, `type` first) in the data file.
 */
export function inSchemaOrder<T extends object> (value: T, schema: TSchema): T {
  const ordered: Record<string, unknown> = {}
  for (const key of Object.keys((schema as { properties?: object }).properties ?? {})) {
    if (Object.hasOwn(value, key)) ordered[key] = (value as Record<string, unknown>)[key]
  }
  return Object.assign(ordered, value) as T
}
