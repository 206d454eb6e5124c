// The README's configuration table, generated from the options schema:
// `npm run docs:options` prints it; test/options.test.ts checks the README holds it.
import { fileURLToPath } from 'node:url'
import type { TSchema } from '@sinclair/typebox'
import { EstatusOptionsSchema, OPTION_ENV, ServerEnvSchema, describeSchema } from '../lib/options.ts'

const code = (text: string) => `\`${text}\``

function row (name: string, schema: TSchema): string {
  const value = schema.default === undefined ? '—' : code(String(schema.default))
  return `| ${name} | ${value} | ${describeSchema(schema)} | ${schema.description ?? ''} |`
}

export function optionsTable (): string {
  const envOf = OPTION_ENV as Record<string, string | undefined>
  return [
    '| variable (option) | default | accepts | meaning |',
    '|---|---|---|---|',
    ...Object.entries(ServerEnvSchema.properties).map(([name, schema]) => row(code(name), schema)),
    ...Object.entries(EstatusOptionsSchema.properties).map(([option, schema]) => {
      const env = envOf[option]
      return row(env === undefined ? `(${code(option)})` : `${code(env)} (${code(option)})`, schema)
    })
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(optionsTable())
