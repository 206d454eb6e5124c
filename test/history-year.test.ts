// The storage budget of SPEC §9: ≤ 1 MiB per server per year of 1 s probing, minute rows
// included. `npm run bench:history-year` runs 100 servers; here two keep the file quick
// (seconds) while counting every row a year leaves behind, their share of the schema too.
import t from 'tap'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { tempDir } from './support/app.ts'
import { simulateYear } from './support/history-sim.ts'

const MiB = 1_048_576

function rows (file: string, table: string) {
  const db = new Database(file, { readonly: true })
  try {
    return db.prepare(`SELECT * FROM ${table} ORDER BY server, t`).all()
  } finally {
    db.close()
  }
}
const kib = (bytes: number) => `${Math.round(bytes / 1024)} KiB`

t.test('a year of 1 s probing stays within 1 MiB per server', async t => {
  const dir = await tempDir(t)
  const servers = 2
  const year = await simulateYear(join(dir, 'year.sqlite'), { servers, days: 365, probesPerMinute: 60 })
  t.ok(year.bytes / servers <= MiB, `${kib(year.bytes / servers)} per server after 365 days`)
  t.ok(year.freeBytes <= year.bytes * 0.05, `pruned rows' pages are reused: ${kib(year.freeBytes / servers)} per server free`)
  t.ok(year.tables.minutes! / servers <= 150 * 1024, `the minutes kept stay 48 h worth: ${kib(year.tables.minutes! / servers)} per server`)
})

t.test('the file grows with the servers, not with age, once the hours kept (400 d) are full', async t => {
  const dir = await tempDir(t)
  const sizes = new Map<number, number>()
  const days = 3 * 365
  // One server, every minute written, so that every day's size holds its 48 h of minutes.
  await simulateYear(join(dir, 'years.sqlite'), { servers: 1, days, minuteDays: days, onDay: (day, bytes) => { if (day % 365 === 0) sizes.set(day / 365, bytes) } })
  const [one, two, three] = [1, 2, 3].map(year => sizes.get(year)!) as [number, number, number]
  // After 400 days only the day rows (kept forever) still grow: some KiB a year.
  t.ok(three - two <= 64 * 1024, `the third year adds ${kib(three - two)} (the first ${kib(one)}, the second ${kib(two - one)})`)
})

t.test('summing the early minute rows per hour, as the simulation does, changes the file by under 2 %', async t => {
  const dir = await tempDir(t)
  const options = { servers: 4, days: 60 }
  const everyMinute = await simulateYear(join(dir, 'every-minute.sqlite'), { ...options, minuteDays: options.days })
  const summed = await simulateYear(join(dir, 'summed.sqlite'), options)
  t.ok(Math.abs(summed.bytes - everyMinute.bytes) <= everyMinute.bytes * 0.02, `${kib(summed.bytes)} summed, ${kib(everyMinute.bytes)} every minute written`)
  t.same(rows(join(dir, 'summed.sqlite'), 'hours'), rows(join(dir, 'every-minute.sqlite'), 'hours'), 'the same hours')
  t.same(rows(join(dir, 'summed.sqlite'), 'days'), rows(join(dir, 'every-minute.sqlite'), 'days'), 'the same days')
})
