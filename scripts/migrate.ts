// npm run migrate -- --to <postgres://…> [--data <estatus.json>] [--history <history.sqlite>] [--tokens <tokens.json>]
// Copies a single node's files into a cluster database (SPEC §12): the configuration (with its
// journal's writes), the history, the alert log with its pending deliveries, the audit and the
// API tokens. The database's schema is created first; a database that holds a configuration
// already is refused (nothing is copied). Run it with the single node stopped.
import { parseArgs } from 'node:util'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import Fastify from 'fastify'
import { optionsFromEnv } from '../lib/options.ts'
import { defaultTokensFile } from '../lib/access-tokens.ts'
import { describeContents } from '../lib/backup.ts'
import { EMPTY_DOCUMENT } from '../lib/config-store.ts'
import { createValidators } from '../lib/document.ts'
import { readStoredDocument } from '../lib/store/load.ts'
import { openDatabase, type Database } from '../lib/cluster/database.ts'
import { migrate } from '../lib/cluster/migrations.ts'
import { copyHistoryToPostgres } from '../plugins/history/copy-to-pg.ts'
import { copyAlertsToPostgres } from '../plugins/alerts/copy-to-pg.ts'
import { copyAuditToPostgres } from '../plugins/audit/copy-to-pg.ts'

const { values } = parseArgs({
  options: { to: { type: 'string' }, data: { type: 'string' }, history: { type: 'string' }, tokens: { type: 'string' } }
})
if (values.to === undefined || !/^postgres(ql)?:\/\//.test(values.to)) {
  console.error('usage: npm run migrate -- --to <postgres://…> [--data <estatus.json>] [--history <history.sqlite>] [--tokens <tokens.json>]')
  process.exit(2)
}

const settings = optionsFromEnv(process.env)
const dataFile = resolve(values.data ?? settings.dataFile)
const historyFile = resolve(values.history ?? settings.historyFile ?? join(dirname(dataFile), 'history.sqlite'))
const tokensFile = resolve(values.tokens ?? settings.tokensFile ?? defaultTokensFile(dataFile))

/** The configuration as the single node holds it: its data file with the journal's writes, checked. */
async function configuration () {
  const stored = await readStoredDocument(dataFile)
  return createValidators().checkDocument(stored ?? structuredClone(EMPTY_DOCUMENT))
}

let database: Database | null = null
try {
  const document = await configuration()
  database = await openDatabase(values.to, Fastify({ logger: false }).log)
  await migrate(database.pool)
  const { rows: [before] } = await database.pool.query<{ version: string }>('SELECT version FROM config_head WHERE id = 1')
  if (Number(before!.version) !== 0) throw new Error(`the database holds a configuration already (version ${before!.version}): nothing copied`)
  if (existsSync(historyFile)) {
    const history = await copyHistoryToPostgres(historyFile, database.pool)
    const alerts = await copyAlertsToPostgres(historyFile, database.pool)
    const audit = await copyAuditToPostgres(historyFile, database.pool)
    for (const [table, rows] of Object.entries({ ...history.tables, ...alerts, ...audit })) console.log(`${table}: ${rows} rows`)
  } else {
    console.log(`no history database at ${historyFile}: nothing of history, alerts or audit to copy`)
  }
  if (existsSync(tokensFile)) {
    const text = await readFile(tokensFile, 'utf8')
    await database.pool.query('INSERT INTO shared_documents (name, text) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', ['tokens', text])
    console.log(`tokens: ${tokensFile}`)
  }
  // The configuration last: a database with a configuration is one a migration has finished.
  await database.transaction(async client => {
    // The row lock keeps two migrations (or a node's first write) from both finding version 0.
    const { rows: [head] } = await client.query<{ version: string }>('SELECT version FROM config_head WHERE id = 1 FOR UPDATE')
    if (Number(head!.version) !== 0) throw new Error(`the database got a configuration meanwhile (version ${head!.version})`)
    await client.query('INSERT INTO config_snapshots (version, event_id, document) VALUES (1, 0, $1)', [JSON.stringify(document)])
    await client.query('UPDATE config_head SET version = 1 WHERE id = 1')
  })
  console.log(`configuration: ${describeContents(document)} from ${dataFile}`)
  console.log(`migrated into ${new URL(values.to).host}${new URL(values.to).pathname}: start the nodes with ESTATUS_DATABASE_URL set`)
} catch (err) {
  console.error(`migrate: ${(err as Error).message}`)
  process.exitCode = 1
} finally {
  await database?.close()
}
