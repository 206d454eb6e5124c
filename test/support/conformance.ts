/**
 * A storage port's conformance suite run on both of its storages (SQLite and PostgreSQL, SPEC
 * §12): each case on each backend against its expected answer, then the two backends'
 * answers compared whole.
 */
import { join } from 'node:path'
import type pg from 'pg'
import type { Test } from 'tap'
import { tempDir } from './app.ts'
import { databaseWith, poolOn } from './pg-database.ts'
import type { PostgresCluster } from './postgres.ts'

export interface ConformanceCase<S> { name: string, run (storage: S): Promise<unknown>, expected: unknown }

type Open<S> = (t: Test) => Promise<S>

/** A new storage per case: SQLite on a temp file, PostgreSQL on a new database with `schema`; each closed with its case. */
export function storageBackends<S extends { close (): Promise<void> }> (
  cluster: PostgresCluster, schema: string, sqlite: (file: string) => S, postgres: (pool: pg.Pool) => S
): { SQLite: Open<S>, PostgreSQL: Open<S> } {
  const closedWith = (t: Test, storage: S) => { t.teardown(() => storage.close()); return storage }
  return {
    SQLite: async t => closedWith(t, sqlite(join(await tempDir(t), 'history.sqlite'))),
    PostgreSQL: async t => closedWith(t, postgres(poolOn(t, await databaseWith(cluster, schema))))
  }
}

export function runConformance<S> (t: Test, backends: Record<string, Open<S>>, cases: ReadonlyArray<ConformanceCase<S>>): void {
  const answers: Record<string, unknown[]> = {}
  for (const [backend, open] of Object.entries(backends)) {
    t.test(backend, async t => {
      answers[backend] = []
      for (const { name, run, expected } of cases) {
        await t.test(name, async t => {
          const answer = await run(await open(t))
          answers[backend]!.push(answer)
          t.strictSame(answer, expected)
        })
      }
    })
  }
  t.test('both backends answer the same', async t => {
    t.equal(answers.SQLite?.length, cases.length)
    t.strictSame(answers.PostgreSQL, answers.SQLite)
  })
}
