// The standalone server: `npm start`. Settings come from the environment (SPEC §1).
import Fastify, { type FastifyReply } from 'fastify'
import { parseArgs } from 'node:util'
import estatus from './app.ts'
import { loggerOptions, optionsFromEnv } from './lib/options.ts'

const { values: args } = parseArgs({
  options: { 'import-servers': { type: 'string' }, 'import-layout': { type: 'string' } }
})

let env: ReturnType<typeof optionsFromEnv>
try {
  env = optionsFromEnv(process.env)
} catch (err) {
  console.error((err as Error).message)
  process.exit(2)
}
const { port, host, logLevel, ...options } = env
const importFrom = args['import-servers'] || args['import-layout']
  ? { servers: args['import-servers'], layout: args['import-layout'] }
  : undefined

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

await app.register(estatus, { ...options, importFrom })
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
  app.log.error({ err }, 'could not start')
  process.exit(1)
}
