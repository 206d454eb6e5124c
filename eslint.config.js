// ESLint 9 with neostandard, the Fastify house style (`npm run lint`).
import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: resolveIgnoresFromGitignore() }),
  {
    rules: {
      // A TypeBox schema and its static type share a name (`const X = Type.Object(…)`,
      // `type X = Static<typeof X>`); TypeScript itself reports real redeclarations.
      '@typescript-eslint/no-redeclare': 'off',
      // `void promise;` marks a promise that is deliberately not awaited.
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
