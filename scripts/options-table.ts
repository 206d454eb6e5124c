// The README's configuration table, generated from the options schema:
// `npm run docs:options` prints it; test/options.test.ts checks the README holds it.
import { fileURLToPath } from 'node:url'
import type { TSchema } from '@sinclair/typebox'
import { EstatusOptionsSchema, OPTION_ENV, ServerEnvSchema, describeSchema } from '../lib/options.ts'

const code = (text: string) => `\`${text}\``

/** `variable`: the row has an environment variable, whose words may differ from the option's. */
function row (name: string, schema: TSchema, variable: boolean): string {
  const value = schema.default === undefined ? '—' : code(variable && typeof schema.default === 'boolean' ? (schema.default ? 'on' : 'off') : String(schema.default))
  const [asOption, asVariable] = [describeSchema(schema), describeSchema(schema, true)]
  const accepts = variable && asVariable !== asOption ? `${asVariable} (the option: ${asOption})` : asOption
  return `| ${name} | ${value} | ${accepts} | ${schema.description ?? ''} |`
}

export function optionsTable (): string {
  const envOf = OPTION_ENV as Record<string, string | undefined>
  return [
    '| variable (option) | default | accepts | meaning |',
    '|---|---|---|---|',
    ...Object.entries(ServerEnvSchema.properties).map(([name, schema]) => row(code(name), schema, true)),
    ...Object.entries(EstatusOptionsSchema.properties).map(([option, schema]) => {
      const env = envOf[option]
      return row(env === undefined ? `(${code(option)})` : `${code(env)} (${code(option)})`, schema, env !== undefined)
    })
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(optionsTable())
