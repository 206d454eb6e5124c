import { Type, type Static } from '@sinclair/typebox'

export const ROLES = ['read', 'write', 'admin'] as const
export type Role = typeof ROLES[number]
export const Role = Type.Unsafe<Role>({ type: 'string', enum: [...ROLES], description: 'read < write < admin' })

export const AUTH_MODES = ['off', 'writes', 'all'] as const
export type AuthMode = typeof AUTH_MODES[number]

/**
 * What a route needs: `public` is open in every mode; the others are roles (SPEC §11).
 * `admin-unless-off` (the audit) is open while access control is off and needs an admin
 * token otherwise, reads included.
 */
export type Access = 'public' | Role | 'admin-unless-off'

/** A token as stored in the tokens file: only the SHA-256 of the secret. */
export const StoredToken = Type.Object({
  id: Type.String({ pattern: '^tok-[0-9a-f]{8}$' }),
  name: Type.String({ minLength: 1, maxLength: 50 }),
  role: Role,
  hash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  createdAt: Type.String()
}, { additionalProperties: false })
export type StoredToken = Static<typeof StoredToken>

export const TokensDocument = Type.Object({
  version: Type.Literal(1),
  tokens: Type.Array(StoredToken)
}, { additionalProperties: false })
export type TokensDocument = Static<typeof TokensDocument>

/** A token as listed: never the hash. */
export const TokenInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Role,
  createdAt: Type.String()
}, { examples: [{ id: 'tok-3f9a1c2e', name: 'ops', role: 'admin', createdAt: '2026-01-01T12:00:00.000Z' }] })
export type TokenInfo = Static<typeof TokenInfo>

/** The answer to a create: the secret, shown this once. */
export const CreatedToken = Type.Composite([TokenInfo, Type.Object({
  token: Type.String({ description: 'the secret: shown only in this answer, stored only as a hash' })
})], { examples: [{ id: 'tok-3f9a1c2e', name: 'ops', role: 'admin', createdAt: '2026-01-01T12:00:00.000Z', token: 'est_4rT9...' }] })

export const TokenInput = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 50 }),
  role: Role
}, { additionalProperties: false, examples: [{ name: 'grafana', role: 'read' }] })
export type TokenInput = Static<typeof TokenInput>
