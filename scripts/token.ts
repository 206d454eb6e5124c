// npm run token -- create --role read|write|admin --name <name> | list | revoke <id or name>   [--file <tokens.json>]
// With ESTATUS_DATABASE_URL set (and no --file): the cluster's tokens, in its database.
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { createTokenStore, defaultTokensFile } from '../lib/access-tokens.ts'
import { optionsFromEnv } from '../lib/options.ts'
import Fastify from 'fastify'
import { openDatabase, type Database } from '../lib/cluster/database.ts'
import { sharedDocument } from '../lib/cluster/shared-documents.ts'
import type { TokensDocument } from '../schemas/auth.ts'

const USAGE = 'usage: npm run token -- create --role read|write|admin --name <name> | list | revoke <id or name>  [--file <tokens.json>]'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { role: { type: 'string' }, name: { type: 'string' }, file: { type: 'string' } }
})

let database: Database | null = null
try {
  const settings = optionsFromEnv(process.env)
  // In cluster mode (ESTATUS_DATABASE_URL) the tokens are the cluster's, in its database.
  if (settings.databaseUrl !== undefined && values.file === undefined) database = await openDatabase(settings.databaseUrl, Fastify({ logger: false }).log)
  const file = database === null ? resolve(values.file ?? settings.tokensFile ?? defaultTokensFile(resolve(settings.dataFile))) : 'the cluster database'
  const tokens = await createTokenStore({ file, ...(database === null ? {} : { storage: sharedDocument<TokensDocument>(database, 'tokens') }) })
  const [command, argument] = positionals
  if (command === 'create') {
    const created = await tokens.create({ name: values.name, role: values.role })
    console.log(`created ${created.role} token '${created.name}' (${created.id}); it is shown only now:\n${created.token}`)
  } else if (command === 'list') {
    for (const token of tokens.list()) console.log(`${token.id}  ${token.role.padEnd(5)}  ${token.createdAt}  ${token.name}`)
    if (tokens.size === 0) console.log(`no tokens in ${file}`)
  } else if (command === 'revoke' && argument !== undefined) {
    const revoked = await tokens.revoke(argument)
    console.log(`revoked ${revoked.role} token '${revoked.name}' (${revoked.id})`)
  } else {
    console.error(USAGE)
    process.exitCode = 2
  }
} catch (err) {
  console.error(`token: ${(err as Error).message}`)
  process.exitCode = 1
} finally {
  await database?.close()
}
