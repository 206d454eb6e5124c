import fp from 'fastify-plugin'
import secureJson from 'secure-json-parse'
import type { FastifyError } from 'fastify'
import { HttpError, ValidationError, describeJsonError, type FieldErrors } from '../lib/errors.ts'
import { createAjv, fieldErrors } from '../lib/validation.ts'

export const BODY_LIMIT = 1048576

/** Messages that say what is wrong, for the errors Fastify raises before our handlers run. */
function describeFrameworkError (error: FastifyError, contentType: string | undefined): { message: string, fields?: FieldErrors } {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { message: `Unsupported content type '${contentType ?? '(none)'}': send application/json` }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { message: `Request body is too large (the limit is ${BODY_LIMIT / 1048576} MiB)` }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { message: 'Content-Length does not match the body' }
  }
  return { message: error.message }
}

/**
 * The path of the first `__proto__` or `constructor.prototype` key of a parsed body (breadth
 * first, without recursion: the body may be nested deeply), found the way secure-json-parse
 * finds it, so unicode-escaped keys are named right too.
 */
function forbiddenKeyPath (root: unknown): string {
  let level: Array<[unknown, string]> = [[root, '']]
  while (level.length > 0) {
    const next: Array<[unknown, string]> = []
    for (const [node, path] of level) {
      if (typeof node !== 'object' || node === null) continue
      const at = (key: string) => (path ? `${path}.${key}` : key)
      if (Object.hasOwn(node, '__proto__')) return at('__proto__')
      const ctor = Object.hasOwn(node, 'constructor') ? (node as { constructor: unknown }).constructor : undefined
      if (typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype')) return at('constructor.prototype')
      for (const [key, child] of Object.entries(node)) next.push([child, at(key)])
    }
    level = next
  }
  return '__proto__'
}

/** JSON bodies, with parse errors that say where, and prototype-poisoning keys refused by name. */
function parseJsonBody (_request: unknown, body: string, done: (err: Error | null, value?: unknown) => void) {
  // Some clients send the JSON content type on every request, bodiless DELETEs included.
  if (body.trim() === '') return done(null, undefined)
  try {
    done(null, secureJson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' }))
  } catch (err) {
    if (/forbidden (prototype|constructor) property/.test((err as Error).message)) {
      // The text parsed, so plain JSON.parse gives the same tree (with the keys as own properties).
      done(new ValidationError({ [forbiddenKeyPath(JSON.parse(body))]: 'is a forbidden key' }))
    } else {
      done(new HttpError(400, `Malformed JSON body: ${describeJsonError(err, body)}`))
    }
  }
}

/**
 * The API conventions of SPEC §2 for the routes of the scope it is registered in: the
 * `{success, data | error}` envelope on every answer, readable validation messages that
 * name the field, our own Ajv (no silent removal or coercion), JSON bodies only, and
 * 404 "Route not found" for unknown `/api` routes.
 */
export default fp(async function apiEnvelope (fastify) {
  const ajv = createAjv()
  fastify.setValidatorCompiler(({ schema }) => ajv.compile(schema))

  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT }, parseJsonBody)

  // Only below /api: embedded without a prefix, the host keeps its own 404 for the rest.
  await fastify.register(async function apiNotFound (api) {
    api.setNotFoundHandler((_request, reply) => {
      reply.code(404).send({ success: false, error: 'Route not found' })
    })
  }, { prefix: '/api' })

  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    let fields: FieldErrors | undefined
    let message: string
    let status: number
    if (error instanceof ValidationError) {
      status = 400
      fields = error.fields
      message = error.message
    } else if (error.validation) {
      status = 400
      fields = fieldErrors(error.validation as Parameters<typeof fieldErrors>[0])
      message = new ValidationError(fields).message
    } else if (error instanceof HttpError) {
      status = error.statusCode
      message = error.message
    } else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      status = error.statusCode
      ;({ message, fields } = describeFrameworkError(error, request.headers['content-type']))
    } else {
      status = 500
      message = 'Internal server error'
    }
    if (status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ status, reason: message }, 'request refused')
    reply.code(status).send(fields
      ? { success: false, error: message, validationErrors: fields, data: fields }
      : { success: false, error: message })
  })
}, { name: 'estatus-api-envelope', fastify: '5.x' })
