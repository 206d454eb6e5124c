import t from 'tap'
import { join } from 'node:path'
import { tempDir } from './support/app.ts'
import { simulateYear } from './support/history-sim.ts'

// 100 servers run in `npm run bench:history` (minutes of CPU); two keep this test short
// while still counting every row a year leaves behind (their share of the schema included).
t.test('a year of history stays within 1 MiB per server', async t => {
  const dir = await tempDir(t)
  const result = await simulateYear(join(dir, 'history.sqlite'), 2, 365)
  t.ok(result.bytesPerServer <= 1_048_576, `${Math.round(result.bytesPerServer / 1024)} KiB per server after 365 days`)
})
