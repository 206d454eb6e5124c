import { Type, type TSchema } from '@sinclair/typebox'

/** `{success: true, data}` of SPEC §2. */
export const Success = <T extends TSchema>(data: T) => Type.Object({ success: Type.Literal(true), data })

const FieldMessages = Type.Record(Type.String(), Type.String())

/** `{success: false, error}`; validation failures add the field map twice (compat). */
export const Failure = Type.Object({
  success: Type.Literal(false),
  error: Type.String(),
  validationErrors: Type.Optional(FieldMessages),
  data: Type.Optional(FieldMessages)
})

export const Deleted = Type.Object({ deletedId: Type.String() })
export const GroupDeleted = Type.Object({ deletedId: Type.String(), reassignedServers: Type.Array(Type.String()) })

// Fastify's router refuses longer path parameters (maxParamLength 100) before this runs.
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) })
export const IfMatch = Type.Object({ 'if-match': Type.Optional(Type.String()) })
