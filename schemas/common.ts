import { Type, type SchemaOptions } from '@sinclair/typebox'

// Shared by schemas/config.ts and schemas/alerts.ts, which import each other's types otherwise.

/** A string enum as a plain JSON-schema `enum`, so a bad value gets one readable error. */
export function StringEnum<const T extends readonly string[]> (values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] })
}

/** The mask that replaces every secret sent to a client (SPEC §3.4). */
export const SECRET_MASK = '********'

/** The id of a stored item a client may choose on create (servers, channels, rules, windows). */
export const ItemId = Type.String({
  pattern: '^[A-Za-z0-9._-]{1,64}$',
  errorMessage: 'must be 1-64 characters of letters, digits, ".", "_" or "-"'
})

/** The most servers a storm alert names. */
export const STORM_SERVERS = 1000
