// npm run export -- [--file <backup.json>] [--secrets] [--data <estatus.json>]
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { describeContents, maskSecrets } from '../lib/backup.ts'
import { createValidators } from '../lib/document.ts'
import { optionsFromEnv } from '../lib/options.ts'
import { readStoredDocument } from '../lib/store/load.ts'

const { values } = parseArgs({
  options: { file: { type: 'string' }, secrets: { type: 'boolean', default: false }, data: { type: 'string' } }
})

try {
  const source = resolve(values.data ?? optionsFromEnv(process.env).dataFile)
  // The file with its journal's writes: what a start on it would serve.
  const stored = await readStoredDocument(source)
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
