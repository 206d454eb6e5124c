import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { HttpError, ValidationError, clip, type FieldErrors } from '../lib/errors.ts'
import { parseJsonBody } from '../lib/json-body.ts'
import { createAjv, fieldErrors } from '../lib/validation.ts'

export const BODY_LIMIT = 1048576

/** Messages that say what is wrong, for the errors Fastify raises before our handlers run. */
function describeFrameworkError (error: FastifyError, contentType: string | undefined): { message: string, fields?: FieldErrors } {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { message: `Unsupported content type '${clip(contentType ?? '(none)', 100)}': send application/json` }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { message: `Request body is too large (the limit is ${BODY_LIMIT / 1048576} MiB)` }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { message: 'Content-Length does not match the body' }
  }
  return { message: error.message }
}

/** JSON bodies within the shape limits, with errors that say what is wrong and where. */
function parseBody (_request: unknown, body: string, done: (err: Error | null, value?: unknown) => void) {
  // Some clients send the JSON content type on every request, bodiless DELETEs included.
  if (body.trim() === '') return done(null, undefined)
  try {
    done(null, parseJsonBody(body))
  } catch (err) {
    done(err as Error)
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
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT }, parseBody)

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
    const refused = error.validation ? new ValidationError(...fieldErrors(error.validation as Parameters<typeof fieldErrors>[0])) : error
    if (refused instanceof ValidationError) {
      status = 400
      fields = refused.fields
      message = refused.message
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
