// npm run import -- --servers <servers.json> --layout <dashboard-layout.json> [--data <file>] [--force]
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { atomicJsonFile } from '../lib/atomic-json-file.ts'
import { readLegacy } from '../lib/legacy-import.ts'
import { optionsFromEnv } from '../lib/options.ts'
import type { StoreDocument } from '../schemas/config.ts'

const { values } = parseArgs({
  options: {
    servers: { type: 'string' },
    layout: { type: 'string' },
    data: { type: 'string' },
    force: { type: 'boolean', default: false }
  }
})

if (values.servers === undefined && values.layout === undefined) {
  console.error('usage: npm run import -- --servers <servers.json> --layout <dashboard-layout.json> [--data <estatus.json>] [--force]')
  process.exit(2)
}

const target = resolve(values.data ?? optionsFromEnv(process.env).dataFile)
try {
  const file = atomicJsonFile<StoreDocument>(target)
  const existing = await file.read()
  if (existing && (existing.servers?.length > 0 || existing.groups?.length > 0) && !values.force) {
    console.error(`${target} already holds a configuration; pass --force to replace it`)
    process.exit(1)
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
