// npm run import -- --servers <servers.json> --layout <dashboard-layout.json> [--data <file>] [--force]
// npm run import -- --file <backup.json> [--data <file>] [--force]   (an export: `npm run export`, GET /api/config/export)
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { atomicJsonFile } from '../lib/atomic-json-file.ts'
import { readFile } from 'node:fs/promises'
import { readLegacy } from '../lib/legacy-import.ts'
import { describeContents, importedDocument } from '../lib/backup.ts'
import { createValidators } from '../lib/document.ts'
import { optionsFromEnv } from '../lib/options.ts'
import type { StoreDocument } from '../schemas/config.ts'

const { values } = parseArgs({
  options: {
    servers: { type: 'string' },
    layout: { type: 'string' },
    file: { type: 'string' },
    data: { type: 'string' },
    force: { type: 'boolean', default: false }
  }
})

if (values.servers === undefined && values.layout === undefined && values.file === undefined) {
  console.error('usage: npm run import -- --servers <servers.json> --layout <dashboard-layout.json> [--data <estatus.json>] [--force]\n       npm run import -- --file <backup.json> [--data <estatus.json>] [--force]')
  process.exit(2)
}

const target = resolve(values.data ?? optionsFromEnv(process.env).dataFile)
try {
  const file = atomicJsonFile<StoreDocument>(target)
  // As written, by this version or an older one (version 1 has no alert configuration).
  const existing = await file.read() as Partial<StoreDocument> | null
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
    const document = createValidators().checkDocument(importedDocument(backup, { server: id => servers.get(id), channel: id => channels.get(id) }))
    await file.write(document)
    console.log(`restored ${describeContents(document)} from ${values.file} into ${target}`)
    process.exit(0)
  }
  const { document, report } = await readLegacy({ servers: values.servers, layout: values.layout })
  for (const line of report.fixed) console.log(`fixed    ${line}`)
  for (const line of report.rejected) console.log(`rejected ${line}`)
  await file.write(document)
  console.log(`imported ${document.servers.length} servers and ${document.groups.length} groups into ${target} (${report.fixed.length} fixed, ${report.rejected.length} rejected)`)
} catch (err) {
  console.error(`import failed: ${(err as Error).message}`)
  process.exit(1)
}
