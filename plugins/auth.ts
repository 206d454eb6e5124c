import fp from 'fastify-plugin'
import bearerAuth, { type verifyBearerAuthFactory } from '@fastify/bearer-auth'
import rateLimit from '@fastify/rate-limit'
import { parseCookie } from 'cookie'
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { createTokenStore, type TokenStore } from '../lib/access-tokens.ts'
import type { Access, AuthMode, Role, TokenInfo } from '../schemas/auth.ts'
import type { ChangeOrigin } from '../lib/config-store.ts'
import type { TokensDocument } from '../schemas/auth.ts'
import { sharedDocument } from '../lib/cluster/shared-documents.ts'
import { clusterOf } from './cluster.ts'

export const TOKEN_COOKIE = 'estatus_token'

/** Reached in the scope as `getDecorator<AccessControl>('accessControl')`. */
export interface AccessControl {
  /** The mode in force now: the configured one, else `writes` once a token exists, else `off`. */
  mode (): AuthMode
  tokens: TokenStore
  /** The token a request was let in with (undefined on open routes and in `off`). */
  tokenOf (request: FastifyRequest): TokenInfo | undefined
  /** Who makes a change through a request, for the audit: its token's name, else `anonymous`; and its address. */
  originOf (request: FastifyRequest): ChangeOrigin
}

export interface AuthOptions {
  mode?: AuthMode
  tokensFile: string
  /** Failed token attempts per address and minute before 429. */
  maxFailures: number
}

/** Route config read by the guard: routes say what they need, the rest is derived from the method. */
export interface AccessConfig {
  access?: Access
  /** Streams (EventSource cannot send headers) also accept the token as a cookie. */
  tokenCookie?: boolean
}

const RANK: Record<Role, number> = { read: 1, write: 2, admin: 3 }
const aRole = (role: Role) => (role === 'admin' ? 'an admin' : `a ${role}`)
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * The role a request must show, or null when it may pass unauthenticated. Token management
 * and backups hand out credentials and secrets, so they need an admin token in every mode.
 */
export function requiredRole (access: Access | undefined, mode: AuthMode): Role | null {
  if (access === undefined || access === 'public') return null
  if (access === 'admin') return 'admin'
  if (mode === 'off') return null
  if (access === 'admin-unless-off') return 'admin'
  if (mode === 'writes') return access === 'read' ? null : access
  return access
}

function defaultAccess (route: RouteOptions): Access {
  const methods = Array.isArray(route.method) ? route.method : [route.method]
  return methods.every(method => SAFE_METHODS.has(method)) ? 'read' : 'write'
}

/** An enveloped refusal, logged with its reason (never with the request's credentials). */
export function refuse (request: FastifyRequest, reply: FastifyReply, status: number, error: string) {
  request.log.info({ status, reason: error }, 'request refused')
  return reply.code(status).send({ success: false, error })
}

/**
 * Access tokens and modes of SPEC §11 as one onRequest guard over every route of the scope:
 * Bearer tokens through @fastify/bearer-auth, the cookie on event streams, roles, and
 * failed attempts counted per address with @fastify/rate-limit.
 */
export default fp<AuthOptions>(async function authPlugin (fastify, options) {
  const log = fastify.log.child({ plugin: 'auth' })
  const cluster = clusterOf(fastify)
  const tokens = await createTokenStore({
    file: options.tokensFile,
    log,
    watchFile: true,
    // Every node accepts every token (SPEC §12): they are kept in the database.
    ...(cluster === null ? {} : { storage: sharedDocument<TokensDocument>(cluster.database, 'tokens') })
  })
  fastify.addHook('onClose', async () => tokens.close())
  const mode = () => options.mode ?? (tokens.size > 0 ? 'writes' : 'off')
  const authenticated = new WeakMap<FastifyRequest, TokenInfo>()

  await fastify.register(rateLimit, { global: false })
  // Only failures count: each one is recorded, and every attempt first peeks at the count,
  // so a blocked address cannot tell a right token from a wrong one.
  const failures = fastify.createRateLimit({ max: options.maxFailures, timeWindow: 60000 })

  let verifyBearer!: (request: FastifyRequest, reply: FastifyReply) => Promise<boolean>
  // In a child scope, so a host's own @fastify/bearer-auth (whose factory we then reuse) never clashes with ours.
  await fastify.register(async function bearer (child) {
    if (!child.hasDecorator('verifyBearerAuthFactory')) await child.register(bearerAuth, { keys: [], addHook: false })
    const verify = child.getDecorator<verifyBearerAuthFactory>('verifyBearerAuthFactory')({
      keys: [],
      addHook: false,
      specCompliance: 'rfc6749', // the scheme name is case-insensitive (RFC 7235)
      verifyErrorLogLevel: null as unknown as string, // we log the refusal ourselves, without the header
      auth (secret, request) {
        const token = tokens.verify(secret)
        if (token !== undefined) authenticated.set(request, token)
        return token !== undefined
      }
    })
    verifyBearer = (request, reply) => new Promise(resolve => verify(request, reply, err => resolve(err === undefined)))
  })

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const config = (route.config ?? {}) as AccessConfig
    const settled: AccessConfig = { access: config.access ?? defaultAccess(route), tokenCookie: config.tokenCookie ?? 'sse' in route }
    route.config = Object.assign({}, route.config, settled)
  })

  async function authenticate (request: FastifyRequest, reply: FastifyReply, tokenCookie: boolean): Promise<boolean> {
    if (request.headers.authorization !== undefined) return verifyBearer(request, reply)
    const secret = tokenCookie && request.headers.cookie ? parseCookie(request.headers.cookie)[TOKEN_COOKIE] : undefined
    const token = secret === undefined ? undefined : tokens.verify(secret)
    if (token !== undefined) authenticated.set(request, token)
    return token !== undefined
  }

  fastify.addHook('onRequest', async (request, reply) => {
    const config = request.routeOptions.config as AccessConfig
    const role = requiredRole(config.access, mode())
    if (role === null) return
    const presented = request.headers.authorization !== undefined ||
      (config.tokenCookie === true && request.headers.cookie?.includes(`${TOKEN_COOKIE}=`) === true)
    if (!presented) {
      reply.header('www-authenticate', 'Bearer realm="estatus"')
      return refuse(request, reply, 401, `Authentication required: send ${aRole(role)} token as 'Authorization: Bearer <token>'`)
    }
    const limit = await failures(request, { increment: false })
    if (!limit.isAllowed && limit.remaining === 0) {
      reply.header('retry-after', String(limit.ttlInSeconds))
      return refuse(request, reply, 429, `Too many failed authentication attempts from this address; try again in ${limit.ttlInSeconds} s`)
    }
    if (!await authenticate(request, reply, config.tokenCookie === true)) {
      await failures(request)
      reply.header('www-authenticate', 'Bearer realm="estatus", error="invalid_token"')
      return refuse(request, reply, 401, 'Invalid access token')
    }
    const token = authenticated.get(request)!
    if (RANK[token.role] < RANK[role]) {
      reply.header('www-authenticate', 'Bearer realm="estatus", error="insufficient_scope"')
      return refuse(request, reply, 403, `This needs ${aRole(role)} token; token '${token.name}' has the role ${token.role}`)
    }
    request.log.debug({ token: token.name }, 'authenticated')
  })

  fastify.addHook('onListen', async function warnWhenOpen () {
    if (mode() !== 'off') return
    const open = fastify.addresses().flatMap(address => (typeof address === 'string' || isLoopback(address.address) ? [] : [address.address]))
    if (open.length > 0) {
      log.warn({ addresses: open },
        'access control is off and the server listens beyond loopback: anyone who can reach it can change the configuration; create a token with `npm run token -- create --role admin --name <name>`')
    }
  })

  const accessControl: AccessControl = {
    mode,
    tokens,
    tokenOf: request => authenticated.get(request),
    originOf: request => ({ actor: authenticated.get(request)?.name ?? 'anonymous', address: request.ip })
  }
  fastify.decorate('accessControl', accessControl)
}, { name: 'estatus-auth', fastify: '5.x' })

export function isLoopback (address: string): boolean {
  const plain = address.replace(/^\[|\]$/g, '').toLowerCase()
  return plain === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(plain) || plain === 'localhost' || plain.endsWith('.localhost')
}
