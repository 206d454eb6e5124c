// npm run import -- --servers <servers.json> --layout <dashboard-layout.json> [--data <file>] [--force] [--actor <name>]
// npm run import -- --file <backup.json> [--data <file>] [--force] [--actor <name>]   (an export: `npm run export`, GET /api/config/export)
// The import is audited (SPEC §11) in the history database as by `--actor` (default `cli`).
import { parseArgs } from 'node:util'
import { dirname, join, resolve } from 'node:path'
import { atomicJsonFile } from '../lib/atomic-json-file.ts'
import { readFile, rm } from 'node:fs/promises'
import { readLegacy } from '../lib/legacy-import.ts'
import { describeContents, importedDocument } from '../lib/backup.ts'
import { EMPTY_DOCUMENT } from '../lib/config-store.ts'
import { createValidators } from '../lib/document.ts'
import { optionsFromEnv } from '../lib/options.ts'
import { changedItems } from '../lib/store/audit.ts'
import { entriesOf } from '../plugins/audit/entries.ts'
import { createSqliteAudit } from '../plugins/audit/sqlite-storage.ts'
import { journalPath } from '../lib/store/journal.ts'
import { readStoredDocument } from '../lib/store/load.ts'
import type { StoreDocument } from '../schemas/config.ts'

const { values } = parseArgs({
  options: {
    servers: { type: 'string' },
    layout: { type: 'string' },
    file: { type: 'string' },
    data: { type: 'string' },
    force: { type: 'boolean', default: false },
    actor: { type: 'string', default: 'cli' }
  }
})

if (values.servers === undefined && values.layout === undefined && values.file === undefined) {
  console.error('usage: npm run import -- --servers <servers.json> --layout <dashboard-layout.json> [--data <estatus.json>] [--force]\n       npm run import -- --file <backup.json> [--data <estatus.json>] [--force]')
  process.exit(2)
}

const settings = optionsFromEnv(process.env)
if (settings.databaseUrl !== undefined && values.data === undefined) {
  console.error('import: ESTATUS_DATABASE_URL is set: a cluster imports through the API (POST /api/config/import on any node), or starts from a node\'s files with `npm run migrate -- --to <url>`')
  process.exit(2)
}
const target = resolve(values.data ?? settings.dataFile)
const validators = createValidators()

/**
 * The import's audit entries (one per changed item and the summary), written where the server
 * keeps them: the history database named by ESTATUS_HISTORY_FILE, or beside the data file. A
 * failure is reported; the configuration is written already.
 */
async function audit (before: unknown, after: StoreDocument) {
  let previous = EMPTY_DOCUMENT
  try { previous = validators.checkDocument(before) } catch { /* unreadable: everything counts as created */ }
  const at = Date.now()
  const entries = entriesOf({ action: 'import', origin: { actor: values.actor, address: null }, items: changedItems(previous, after) })
  try {
    const storage = createSqliteAudit(resolve(settings.historyFile ?? join(dirname(target), 'history.sqlite')))
    try {
      await storage.add(entries.map(entry => ({ at, ...entry })))
    } finally {
      await storage.close()
    }
  } catch (err) {
    console.error(`the import is done but could not be audited: ${(err as Error).message}`)
  }
}

try {
  const file = atomicJsonFile<StoreDocument>(target)
  // As written, by this version or an older one (version 1 has no alert configuration), journal included.
  const existing = await readStoredDocument(target) as Partial<StoreDocument> | null
  // The import replaces the whole configuration: a journal of the one before has nothing to add.
  const write = async (document: StoreDocument) => { await file.write(document); await rm(journalPath(target), { force: true }) }
  const holds = (list: unknown[] | undefined) => (list?.length ?? 0) > 0
  if (existing && [existing.servers, existing.groups, existing.channels, existing.alertRules, existing.maintenance].some(holds) && !values.force) {
    console.error(`${target} already holds a configuration; pass --force to replace it`)
    process.exit(1)
  }
  if (values.file !== undefined) {
    // Masked secrets keep what the target file holds for the same server or channel.
    const servers = new Map(existing?.servers?.map(server => [server.id, server]))
    const channels = new Map(existing?.channels?.map(channel => [channel.id, channel]))
    const backup = JSON.parse(await readFile(values.file, 'utf8'))
    const document = validators.checkDocument(importedDocument(backup, { server: id => servers.get(id), channel: id => channels.get(id) }))
    await write(document)
    await audit(existing, document)
    console.log(`restored ${describeContents(document)} from ${values.file} into ${target}`)
    process.exit(0)
  }
  const { document, report } = await readLegacy({ servers: values.servers, layout: values.layout })
  for (const line of report.fixed) console.log(`fixed    ${line}`)
  for (const line of report.rejected) console.log(`rejected ${line}`)
  await write(document)
  await audit(existing, document)
  console.log(`imported ${document.servers.length} servers and ${document.groups.length} groups into ${target} (${report.fixed.length} fixed, ${report.rejected.length} rejected)`)
} catch (err) {
  console.error(`import failed: ${(err as Error).message}`)
  process.exit(1)
}
