// SIGKILL while history records (SPEC §9: "a SIGKILL loses at most the current minute").
//
// The real standalone server (server.ts) probes 127.0.0.1 with the real fping every second,
// on the real clock. Once it is online and a minute boundary B has passed (so the minute
// before B was written), it is SIGKILLed in the middle of minute B, and restarted on the
// same files a few seconds later. The history file then shows: what was written before the
// kill is there and whole; of minute B only the part after the restart exists (the killed
// process' part of it is what is lost); the time not monitored is that lost part plus the
// downtime; the restarted process goes on writing minutes, with no made-up incident.
// It waits for real minute boundaries, so it takes one to three minutes.
import t from 'tap'
import Database from 'better-sqlite3'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tempDir, call, type Test } from './support/app.ts'
import { spawnServer, type ServerProcess } from './support/server-process.ts'
import { sleep, waitFor } from './support/wait.ts'

const MINUTE = 60_000
/** Probe times and the flush check (every second) make figures agree within this. */
const SLACK_MS = 1500
const SERVER = 'server-1'

t.setTimeout(290_000)

interface MinuteRow { t: number, probes: number, monitoredMs: number, onlineMs: number }

/** The minute rows of the file as they are on disk now (another connection: WAL readers see committed rows only). */
function minuteRows (file: string): MinuteRow[] {
  const db = new Database(file, { readonly: true })
  try {
    return (db.prepare(`SELECT m.t * 60000 AS t, m.probes, m.monitored_ms AS monitoredMs, m.online_ms AS onlineMs
      FROM minutes m JOIN servers s ON s.key = m.server WHERE s.id = ? ORDER BY m.t`).all(SERVER) as MinuteRow[])
  } finally {
    db.close()
  }
}

function count (file: string, table: string): number {
  const db = new Database(file, { readonly: true })
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n
  } finally {
    db.close()
  }
}

const start = (t: Test, dataFile: string, historyFile: string) => spawnServer(t, {
  dataFile,
  env: { ESTATUS_PING_INTERVAL_MS: '1000', ESTATUS_DISK_INTERVAL_MS: '86400000', ESTATUS_HISTORY_FILE: historyFile }
})

/** When the server went online (the monitor's flip, the time history starts counting). */
async function onlineSince (server: ServerProcess): Promise<number> {
  const status = await waitFor(async () => {
    const answer = await call(server.url, 'GET', `/api/servers/${SERVER}`)
    return answer.json?.data?.isOnline === true ? answer.json.data as { lastStatusChange: string } : null
  }, 30_000, 'the server online')
  return Date.parse(status.lastStatusChange)
}

const nextMinute = (time: number) => Math.floor(time / MINUTE) * MINUTE + MINUTE
const sleepUntil = (time: number) => sleep(Math.max(0, time - Date.now()))
const sum = (rows: MinuteRow[], field: 'monitoredMs' | 'probes') => rows.reduce((total, row) => total + row[field], 0)

t.test('a SIGKILL in the middle of a minute loses that minute\'s part before the kill, nothing else', async t => {
  const dir = await tempDir(t)
  const dataFile = join(dir, 'estatus.json')
  const historyFile = join(dir, 'history.sqlite')
  await writeFile(dataFile, JSON.stringify({
    version: 1,
    nextServerId: 2,
    nextGroupId: 2,
    servers: [{ id: SERVER, name: 'loopback', ip: '127.0.0.1', dnsAddress: '127.0.0.1', consecutiveSuccesses: 1 }],
    groups: [{ id: 'group-1', name: 'All', order: 1, serverIds: [SERVER], rowNumber: 1, rowOrder: 1 }]
  }))

  const first = await start(t, dataFile, historyFile)
  const firstOnline = await onlineSince(first)
  const boundary = nextMinute(firstOnline)
  // Mid-minute, well after the minute before `boundary` was written (the check runs every second).
  await sleepUntil(boundary + 20_000)
  process.kill(-first.pid, 'SIGKILL')
  const killedAt = Date.now()
  t.same(await first.exited, { code: null, signal: 'SIGKILL' })
  t.ok(killedAt < boundary + MINUTE - 5000, `killed in the middle of the minute (${(killedAt - boundary) / 1000} s into it)`)

  const beforeRestart = minuteRows(historyFile)
  t.ok(beforeRestart.length > 0, 'the minutes before the kill were written')
  t.ok(beforeRestart.every(row => row.t < boundary), 'nothing of the killed minute: it was still in memory')
  t.ok(Math.abs(sum(beforeRestart, 'monitoredMs') - (boundary - firstOnline)) <= SLACK_MS,
    `every completed minute is whole: ${sum(beforeRestart, 'monitoredMs')} ms monitored from going online to the boundary (${boundary - firstOnline} ms)`)
  t.ok(beforeRestart.every(row => row.onlineMs === row.monitoredMs), 'online all along')
  t.ok(sum(beforeRestart, 'probes') >= Math.floor((boundary - firstOnline) / 1000) - 1, `a probe a second (${sum(beforeRestart, 'probes')})`)

  await sleep(3000)
  const second = await start(t, dataFile, historyFile)
  const secondOnline = await onlineSince(second)
  t.ok(secondOnline > killedAt, 'online again after the restart')
  const downtime = secondOnline - killedAt
  const end = nextMinute(secondOnline)
  await sleepUntil(end + 3000)

  const after = minuteRows(historyFile)
  const rowsBefore = after.filter(row => row.t < boundary)
  t.same(rowsBefore, beforeRestart, 'the minutes written before the kill are unchanged')
  const restarted = after.filter(row => row.t >= boundary && row.t < end)
  t.ok(restarted.length > 0, 'the restarted process wrote its first minute')
  t.ok(Math.abs(sum(restarted, 'monitoredMs') - (end - secondOnline)) <= SLACK_MS,
    `from the restart on, every millisecond is counted (${sum(restarted, 'monitoredMs')} ms, ${end - secondOnline} ms online since the restart)`)
  if (nextMinute(killedAt) === end) {
    t.ok(restarted[0]!.monitoredMs < MINUTE - (killedAt - boundary), 'the killed minute holds only the part after the restart')
  }

  // From going online to `end`: what is not monitored is the lost part of the killed minute plus the downtime.
  const gap = (end - firstOnline) - sum([...rowsBefore, ...restarted], 'monitoredMs')
  const lost = gap - downtime
  t.ok(lost >= 0 && lost <= MINUTE, `lost: ${lost} ms of the killed minute (≤ 1 minute), besides ${downtime} ms down`)
  t.ok(Math.abs(lost - (killedAt - boundary)) <= SLACK_MS, 'exactly the part of the minute before the kill')

  t.equal(count(historyFile, 'transitions'), 0, 'a restart of a server that stayed online writes no flip')
  const incidents = await call(second.url, 'GET', `/api/servers/${SERVER}/incidents`)
  t.same(incidents.json.data, [], 'and shows no incident')
  const day = (await call(second.url, 'GET', `/api/servers/${SERVER}/uptime`)).json.data.windows['24h']
  t.equal(day.uptime, 100, 'online whenever it was monitored')
})
