#!/usr/bin/env node
// The standalone server: `npm start`. Settings come from the environment (SPEC §1).
import Fastify, { type FastifyReply } from 'fastify'
import { parseArgs } from 'node:util'
import estatus from './app.ts'
import { loggerOptions, optionsFromEnv } from './lib/options.ts'

/**
 * A start that fails (invalid env, a bad data file, an unwritable folder, a port in use)
 * says why in one line and exits 1: no stack trace, and never a line of the data file,
 * which may hold a community or a password.
 */
function cannotStart (err: unknown): never {
  const message = err instanceof Error ? err.message : String(err)
  console.error(`cannot start: ${message.replace(/\s*\n\s*/g, ' ')}`)
  process.exit(1)
}

function settings () {
  const { values: args } = parseArgs({
    options: { 'import-servers': { type: 'string' }, 'import-layout': { type: 'string' } }
  })
  const importFrom = args['import-servers'] || args['import-layout']
    ? { servers: args['import-servers'], layout: args['import-layout'] }
    : undefined
  return { ...optionsFromEnv(process.env), importFrom }
}

let env: ReturnType<typeof settings>
try {
  env = settings()
} catch (err) {
  cannotStart(err)
}
const { port, host, logLevel, ...options } = env

const app = Fastify({
  logger: loggerOptions(logLevel, process.stdout.isTTY === true),
  // The browser app's long-lived event streams must not keep a shutdown waiting.
  forceCloseConnections: true,
  // Errors the router raises before any plugin runs (an over-long id, a malformed URL)
  // get the API envelope too.
  frameworkErrors (error, _request, reply) {
    ;(reply as FastifyReply).code(error.statusCode ?? 400).send({ success: false, error: error.message })
  }
})

try {
  await app.register(estatus, options)
} catch (err) {
  await app.close().catch(() => {})
  cannotStart(err)
}
app.setNotFoundHandler((_request, reply) => {
  reply.code(404).send({ success: false, error: 'Route not found' })
})

let closing = false
async function shutdown (signal: string) {
  if (closing) return
  closing = true
  app.log.info({ signal }, 'shutting down')
  try {
    await app.close()
    process.exit(0)
  } catch (err) {
    app.log.error({ err }, 'shutdown failed')
    process.exit(1)
  }
}
process.on('SIGINT', shutdown)
process.on('SIGTERM', shutdown)

try {
  await app.listen({ port, host })
} catch (err) {
  // Stop what the plugin started (fping children) before leaving.
  await app.close().catch(() => {})
  cannotStart(err)
}
