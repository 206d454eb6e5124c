// A year in a minute (SPEC §9 budget: ≤ 1 MiB per server per year of 1 s probing, minute
// rows included): the real recorder and SQLite storage driven through simulated days with an
// injected clock (test/support/history-sim.ts).
//
//   npm run bench:history-year
//   YEAR_SERVERS=10 YEAR_DAYS=60 npm run bench:history-year
//
// 1. YEAR_SERVERS servers through YEAR_DAYS days at one probe a minute: the file at the end
//    (after the last prune), its free pages, what a VACUUM would leave, bytes per table, the
//    size as the year goes on, and the time it took. Minute rows of all but the last 3 days
//    are summed per hour before they are written (see the simulation): 3. checks that.
// 2. Two servers through a year at 1 s probing (60 results a minute, the rows' real sizes):
//    the figure to hold against the budget.
// 3. The shortcut of 1. against writing every minute: 10 servers, 60 days.
// 4. One server through three years: the file stops growing with age once the 400 days of
//    hours are full.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { simulateYear, type YearOptions } from '../test/support/history-sim.ts'

const SERVERS = Number(process.env.YEAR_SERVERS ?? 100)
const DAYS = Number(process.env.YEAR_DAYS ?? 365)
const BUDGET = 1_048_576
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`
const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MiB`
/** Per server per year, so a run of other than 365 days compares with the budget too. */
const perServerYear = (bytes: number, servers: number, days: number) => bytes / servers * 365 / days

async function main () {
  const dir = await mkdtemp(join(tmpdir(), 'estatus-bench-history-year-'))
  let run = 0
  const simulate = (options: YearOptions) => simulateYear(join(dir, `run-${++run}.sqlite`), options)
  try {
    console.log(`# ${SERVERS} servers, ${DAYS} simulated days, one probe a minute`)
    const sizes: string[] = []
    const year = await simulate({
      servers: SERVERS,
      days: DAYS,
      onDay: (day, bytes) => { if (day % 30 === 0) sizes.push(`${day} d ${kib(bytes / SERVERS)}`) }
    })
    const perServer = perServerYear(year.bytes, SERVERS, DAYS)
    console.log(`file ${mib(year.bytes)} → ${kib(perServer)} per server per year (budget ${kib(BUDGET)}): ` +
      `${kib(year.freeBytes / SERVERS)} of it free pages, ${kib(year.vacuumedBytes / SERVERS)} after a VACUUM; ` +
      `${year.seconds.toFixed(0)} s (CPU ${year.cpuSeconds.toFixed(0)} s)`)
    console.log(`per table, per server: ${Object.entries(year.tables).filter(([, bytes]) => bytes / SERVERS >= 1024).map(([table, bytes]) => `${table} ${kib(bytes / SERVERS)}`).join(', ')}`)
    console.log(`per server as the days pass (pages in use; minutes summed per hour until the last 3 days): ${sizes.join(', ')}`)

    const exact = await simulate({ servers: 2, days: 365, probesPerMinute: 60 })
    console.log(`# 1 s probing, 2 servers, 365 days: ${kib(exact.bytes / 2)} per server per year (budget ${kib(BUDGET)}), ` +
      `${kib(exact.vacuumedBytes / 2)} after a VACUUM; ${exact.seconds.toFixed(0)} s`)

    const check = { servers: 10, days: 60 }
    const everyMinute = await simulate({ ...check, minuteDays: check.days })
    const summed = await simulate(check)
    console.log(`# shortcut check, ${check.servers} servers, ${check.days} days: every minute written ${kib(everyMinute.bytes / check.servers)} per server ` +
      `(${everyMinute.seconds.toFixed(1)} s), early minutes summed per hour ${kib(summed.bytes / check.servers)} (${summed.seconds.toFixed(1)} s)`)

    const years: number[] = []
    const threeYears = await simulate({ servers: 1, days: 3 * 365, minuteDays: 3 * 365, onDay: (day, bytes) => { if (day % 365 === 0) years.push(bytes) } })
    console.log(`# 3 years, 1 server, every minute written: the file at the end of each year ${years.map(kib).join(', ')} (${threeYears.seconds.toFixed(0)} s)`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
