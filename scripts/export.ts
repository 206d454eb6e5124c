// npm run export -- [--file <backup.json>] [--secrets] [--data <estatus.json>]
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { atomicJsonFile } from '../lib/atomic-json-file.ts'
import { describeContents, maskSecrets } from '../lib/backup.ts'
import { createValidators } from '../lib/document.ts'
import { optionsFromEnv } from '../lib/options.ts'
import type { StoreDocument } from '../schemas/config.ts'

const { values } = parseArgs({
  options: { file: { type: 'string' }, secrets: { type: 'boolean', default: false }, data: { type: 'string' } }
})

try {
  const source = resolve(values.data ?? optionsFromEnv(process.env).dataFile)
  const stored = await atomicJsonFile<StoreDocument>(source).read()
  if (stored === null) throw new Error(`${source} holds no configuration`)
  const document = createValidators().checkDocument(stored)
  // The same text as the data file, so an export of all secrets restores byte for byte.
  const text = JSON.stringify(values.secrets ? document : maskSecrets(document), null, 2) + '\n'
  if (values.file === undefined) process.stdout.write(text)
  else await writeFile(values.file, text, { mode: 0o600 })
  if (values.file !== undefined) console.error(`exported ${describeContents(document)} to ${values.file}${values.secrets ? ' (with secrets)' : ' (secrets masked)'}`)
} catch (err) {
  console.error(`export failed: ${(err as Error).message}`)
  process.exit(1)
}
