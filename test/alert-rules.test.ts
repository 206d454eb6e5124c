// The rules engine of SPEC §10 on its own: a driven clock, plain AlertConfig objects and a
// recording outbox (the seams of plugins/alerts/types.ts). The same engine runs inside the
// app in test/alerts.test.ts, fed by real probes.
import t, { type Test as Tap } from 'tap'
import { join } from 'node:path'
import type { Alert, AlertRule, MaintenanceWindow } from '../schemas/alerts.ts'
import type { GroupConfig } from '../schemas/config.ts'
import type { DiskInfo } from '../schemas/status.ts'
import { createAlertEngine } from '../plugins/alerts/engine.ts'
import { occurrenceAt } from '../plugins/alerts/maintenance.ts'
import { stormCluster, stormThreshold, STORM_HOLD_MS } from '../plugins/alerts/storm.ts'
import { formatDuration } from '../plugins/alerts/messages.ts'
import { createSqliteOutbox } from '../plugins/alerts/sqlite-outbox.ts'
import type { OpenAlert } from '../plugins/alerts/types.ts'
import { tempDir } from './support/app.ts'

const T0 = Date.parse('2026-01-05T10:00:00.000Z')
const S = 1000
const MIN = 60_000

const rule = (overrides: Partial<AlertRule> = {}): AlertRule => ({
  id: 'rule-1',
  name: 'Pager',
  enabled: true,
  scope: { serverIds: [], groupIds: [] },
  on: ['down', 'up'],
  forSeconds: 0,
  renotifyMinutes: 0,
  channelIds: ['channel-1'],
  ...overrides
})

const window = (overrides: Partial<MaintenanceWindow> = {}): MaintenanceWindow => ({
  id: 'maintenance-1',
  name: 'patching',
  scope: { serverIds: [], groupIds: [] },
  start: new Date(T0 + 10 * MIN).toISOString(),
  end: new Date(T0 + 40 * MIN).toISOString(),
  ...overrides
})

const ids = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `server-${String(from + i).padStart(3, '0')}`)
const group = (id: string, name: string, serverIds: string[]): GroupConfig => ({ id, name, order: 1, serverIds, rowNumber: 1, rowOrder: 1 })

interface Setup {
  rules?: AlertRule[]
  windows?: MaintenanceWindow[]
  servers?: number
  groups?: GroupConfig[]
  /** A restart at `at`: the engine takes up `open` (from the alert log) and no server is decided yet. */
  restart?: { at: number, open: OpenAlert[] }
}

/** The engine over `servers` servers named after their ids, every one online to begin with (unless restarted). */
function harness (setup: Setup = {}) {
  let now = setup.restart?.at ?? T0
  const config = { rules: setup.rules ?? [rule()], windows: setup.windows ?? [], groups: setup.groups ?? [] }
  const servers = ids(setup.servers ?? 3).map((id, i) => ({ id, name: `web-${i + 1}`, ip: `10.0.0.${i + 1}` }))
  const sent: Array<{ alert: Alert, channelIds: readonly string[] }> = []
  const maintenance: Array<[string, boolean]> = []
  let n = 0
  const engine = createAlertEngine({
    config: {
      channels: () => [],
      channel: () => undefined,
      alertRules: () => config.rules,
      maintenanceWindows: () => config.windows
    },
    directory: { servers: () => servers, server: id => servers.find(server => server.id === id), groups: () => config.groups },
    clock: () => now,
    send: (alert, channelIds) => { sent.push({ alert, channelIds }) },
    setMaintenance: (id, inside) => { maintenance.push([id, inside]) },
    newId: () => `alert-${++n}`
  })
  if (setup.restart === undefined) for (const server of servers) engine.availability(server.id, true)
  else engine.restore(setup.restart.open)
  return {
    engine,
    config,
    sent,
    maintenance,
    alerts: () => sent.map(({ alert }) => alert),
    kinds: () => sent.map(({ alert }) => `${alert.kind} ${alert.storm ? `storm ${alert.storm.group.name}` : alert.server.name}`),
    get now () { return now },
    /** Moves the clock on, ticking every second as the plugin does. */
    advance (ms: number) {
      const end = now + ms
      while (now < end) {
        now = Math.min(end, now + S)
        engine.tick()
      }
    },
    down (...which: string[]) { for (const id of which) engine.availability(id, false) },
    up (...which: string[]) { for (const id of which) engine.availability(id, true) }
  }
}

t.test('down after forSeconds, up after recovery; a shorter flap sends nothing', async t => {
  const h = harness({ rules: [rule({ forSeconds: 30 })] })
  h.down('server-001')
  h.advance(29 * S)
  t.same(h.sent, [], 'nothing while forSeconds has not passed')
  h.advance(1 * S)
  t.same(h.kinds(), ['down web-1'], 'down once the server stayed down forSeconds')
  const [down] = h.alerts()
  t.match(down, {
    id: 'alert-1',
    kind: 'down',
    rule: { id: 'rule-1', name: 'Pager' },
    server: { id: 'server-001', name: 'web-1', ip: '10.0.0.1' },
    groups: [],
    at: new Date(T0 + 30 * S).toISOString(),
    since: new Date(T0).toISOString(),
    durationSeconds: 30,
    message: `DOWN: web-1 (10.0.0.1) has been down for 30s (since ${new Date(T0).toISOString()})`
  })
  t.same(h.sent[0]!.channelIds, ['channel-1'], 'to the rule\'s channels')
  h.advance(5 * MIN)
  t.equal(h.sent.length, 1, 'renotifyMinutes 0: never repeated')

  h.up('server-001')
  t.same(h.kinds(), ['down web-1', 'up web-1'])
  t.match(h.alerts()[1], { kind: 'up', durationSeconds: 330, message: 'UP: web-1 (10.0.0.1) is up again after 5m 30s down', since: new Date(h.now).toISOString() })

  // A flap: down for 20 s of the 30 needed.
  h.down('server-002')
  h.advance(20 * S)
  h.up('server-002')
  h.advance(2 * MIN)
  t.equal(h.sent.length, 2, 'a flap shorter than forSeconds sends neither down nor up')
})

t.test('forSeconds 0 sends at the flip; up only for a server whose down was sent', async t => {
  const h = harness({ rules: [rule({ on: ['up'] }), rule({ id: 'rule-2', name: 'Both', on: ['down', 'up'] })] })
  h.down('server-001')
  t.same(h.alerts().map(alert => [alert.kind, alert.rule.id]), [['down', 'rule-2']], 'at once, by the rule that has down')
  h.up('server-001')
  t.same(h.alerts().map(alert => [alert.kind, alert.rule.id]), [['down', 'rule-2'], ['up', 'rule-2']], 'an up-only rule never sent a down, so it sends no up')
})

t.test('a server that was never online counts as down once the monitor decided it', async t => {
  const h = harness({ servers: 1 })
  h.engine.availability('server-009', false)
  t.same(h.kinds(), ['down server-009'], 'its first decided state is down (Uptime Kuma alerts a first DOWN beat too)')
  const h2 = harness({ servers: 1 })
  h2.engine.availability('server-009', true)
  t.same(h2.sent, [], 'a first decided state of up is no recovery')
})

t.test('renotify repeats a down while it lasts', async t => {
  const h = harness({ rules: [rule({ renotifyMinutes: 10 })] })
  h.down('server-001')
  h.advance(25 * MIN)
  t.same(h.alerts().map(alert => alert.message.split(':')[0]), ['DOWN', 'STILL DOWN', 'STILL DOWN'], 'at 0, 10 and 20 minutes')
  t.same(h.alerts().map(alert => alert.durationSeconds), [0, 600, 1200])
  h.up('server-001')
  h.advance(30 * MIN)
  t.same(h.alerts().map(alert => alert.kind), ['down', 'down', 'down', 'up'], 'and stops with the up')
})

t.test('scope: servers, groups, everything; disabled rules and config changes apply without restart', async t => {
  const groups = [group('group-1', 'Rack A', ['server-002'])]
  const h = harness({
    servers: 3,
    groups,
    rules: [
      rule({ id: 'rule-s', name: 'one server', scope: { serverIds: ['server-001'], groupIds: [] }, on: ['down'] }),
      rule({ id: 'rule-g', name: 'one group', scope: { serverIds: [], groupIds: ['group-1'] }, on: ['down'] }),
      rule({ id: 'rule-off', name: 'disabled', enabled: false, on: ['down'] })
    ]
  })
  h.down('server-001', 'server-002', 'server-003')
  t.same(h.alerts().map(alert => `${alert.rule.id} ${alert.server.id}`).sort(), ['rule-g server-002', 'rule-s server-001'])
  t.same(h.alerts().find(alert => alert.server.id === 'server-002')!.groups, ['Rack A'], 'the alert names the server\'s groups')

  h.config.rules = [rule({ id: 'rule-all', name: 'everything', on: ['down'] })]
  h.advance(S)
  t.same(h.alerts().slice(2).map(alert => `${alert.rule.id} ${alert.server.id}`).sort(),
    ['rule-all server-001', 'rule-all server-002', 'rule-all server-003'], 'a rule added while servers are down fires for them at the next tick')
  h.config.rules = [{ ...h.config.rules[0]!, enabled: false }]
  h.up('server-001')
  h.down('server-001')
  h.advance(S)
  t.equal(h.sent.length, 5, 'a disabled rule sends nothing')
})

t.test('maintenance windows: one-off and repeating occurrences', async t => {
  const at = (iso: string) => Date.parse(iso)
  const once = window({ start: '2026-01-05T10:00:00Z', end: '2026-01-05T11:00:00Z' })
  t.same(occurrenceAt(once, at('2026-01-05T09:59:59Z')), null)
  t.same(occurrenceAt(once, at('2026-01-05T10:00:00Z')), { start: at('2026-01-05T10:00:00Z'), end: at('2026-01-05T11:00:00Z') })
  t.same(occurrenceAt(once, at('2026-01-05T11:00:00Z')), null, 'the end is not inside')
  t.same(occurrenceAt(once, at('2026-01-06T10:30:00Z')), null, 'a one-off window does not come back')

  const daily = window({ start: '2026-01-05T22:00:00Z', end: '2026-01-06T02:00:00Z', repeat: { every: 'day', until: '2026-01-08T00:00:00Z' } })
  t.same(occurrenceAt(daily, at('2026-01-07T01:00:00Z')), { start: at('2026-01-06T22:00:00Z'), end: at('2026-01-07T02:00:00Z') }, 'across midnight')
  t.same(occurrenceAt(daily, at('2026-01-07T12:00:00Z')), null, 'between occurrences')
  t.same(occurrenceAt(daily, at('2026-01-07T23:00:00Z')), { start: at('2026-01-07T22:00:00Z'), end: at('2026-01-08T02:00:00Z') }, 'the last one starts before until and runs its course')
  t.same(occurrenceAt(daily, at('2026-01-08T23:00:00Z')), null, 'none starts after until')

  const weekly = window({ start: '2026-01-04T01:00:00Z', end: '2026-01-04T03:00:00Z', repeat: { every: 'week' } })
  t.ok(occurrenceAt(weekly, at('2026-03-01T02:00:00Z')), 'a Sunday eight weeks later')
  t.same(occurrenceAt(weekly, at('2026-03-02T02:00:00Z')), null, 'not on the Monday')
  t.same(occurrenceAt(weekly, at('2026-01-04T00:59:59Z')), null, 'not before the first')
})

t.test('maintenance suppresses alerts, sets the status flag, and alerts resume after the window', async t => {
  const h = harness({ servers: 3, rules: [rule({ forSeconds: 60, renotifyMinutes: 15 })], windows: [window({ scope: { serverIds: ['server-001', 'server-002', 'server-003'], groupIds: [] } })] })
  h.down('server-003') // down before the window: alerted, then silent inside
  h.advance(2 * MIN)
  t.same(h.kinds(), ['down web-3'])
  h.advance(8 * MIN) // T0 + 10 min: the window starts
  t.same(h.maintenance, [['server-001', true], ['server-002', true], ['server-003', true]], 'the monitor is told at the start')

  h.down('server-001') // goes down inside and stays down
  h.down('server-002') // goes down inside and comes back inside
  h.advance(5 * MIN)
  h.up('server-002')
  h.up('server-003') // recovers inside: its up waits for the end
  h.advance(20 * MIN)
  t.same(h.kinds(), ['down web-3'], 'nothing inside the window: no down, no re-notify, no up')

  h.advance(5 * MIN) // T0 + 40 min: the end
  t.same(h.maintenance.slice(3), [['server-001', false], ['server-002', false], ['server-003', false]])
  t.same(h.kinds().slice(1).sort(), ['down web-1', 'up web-3'], 'after it: the down of the one still down, the up of the one that was announced')
  const down = h.alerts().find(alert => alert.kind === 'down' && alert.server.id === 'server-001')!
  t.equal(down.since, new Date(T0 + 10 * MIN).toISOString(), 'since: when it really went down')
  t.equal(down.at, new Date(T0 + 40 * MIN).toISOString())
})

t.test('storm: ten of twelve servers of a group down together make one alert after the hold', async t => {
  const rack = ids(12)
  const h = harness({ servers: 14, groups: [group('group-1', 'Rack A', rack)], rules: [rule({ renotifyMinutes: 30 })] })
  t.equal(stormThreshold(12), 6)
  t.equal(stormThreshold(4), 3)
  h.down(...rack.slice(0, 10))
  h.down('server-014') // in no group: at once
  t.same(h.kinds(), ['down web-14'], 'servers of a group that can storm are held')
  h.advance(STORM_HOLD_MS - S)
  t.equal(h.sent.length, 1, 'still held')
  h.advance(S)
  t.same(h.kinds(), ['down web-14', 'down storm Rack A'], 'one alert for the group after the hold')
  const storm = h.alerts()[1]!
  t.same(storm.storm!.group, { id: 'group-1', name: 'Rack A' })
  t.same(storm.storm!.servers.map(server => server.id), rack.slice(0, 10), 'naming its ten servers')
  t.same(storm.groups, ['Rack A'])
  t.equal(storm.server.id, 'server-001', 'server: the first that went down')
  t.match(storm.message, /^DOWN: 10 servers of group Rack A \(of 12\) went down together: web-1 \(10\.0\.0\.1\), .*web-10 \(10\.0\.0\.10\)$/)

  h.advance(20 * S)
  h.down('server-011') // a straggler within the 60 s: one follow-up after its own hold
  h.advance(STORM_HOLD_MS)
  t.same(h.kinds().slice(2), ['down storm Rack A'])
  t.same(h.alerts()[2]!.storm!.servers.map(server => server.id), ['server-011'])
  t.equal(h.alerts()[2]!.message, 'DOWN: 1 server more of group Rack A (of 12) went down with it: web-11 (10.0.0.11)')

  h.up(...rack.slice(0, 10))
  t.equal(h.sent.length, 3, 'no single ups, and no storm up while one of it is still down')
  h.advance(29 * MIN)
  t.equal(h.sent.length, 3)
  h.advance(MIN)
  const later = () => h.alerts().slice(3).filter(alert => alert.storm !== undefined)
  t.same(later().map(alert => [alert.kind, alert.storm!.servers.map(server => server.id)]), [['down', ['server-011']]],
    're-notified as one alert naming the one still down')
  t.match(later()[0]!.message, /^STILL DOWN: 1 server of group Rack A \(of 12\): web-11/)
  h.up('server-011')
  t.same(later().map(alert => alert.kind), ['down', 'up'], 'one up when the last is back')
  t.same(later()[1]!.storm!.servers.map(server => server.id), rack.slice(0, 11), 'naming every server of the storm')
  t.match(later()[1]!.message, /^UP: all 11 servers of group Rack A that went down together are up again after 30m 40s: web-1 \(10\.0\.0\.1\), /)
})

t.test('storm: a second wave in a group forms a new storm while one server of the first is still down', async t => {
  const rack = ids(10)
  const h = harness({ servers: 10, groups: [group('group-1', 'Rack A', rack)], rules: [rule()] })
  h.down(...rack.slice(0, 6))
  h.advance(STORM_HOLD_MS)
  h.up(...rack.slice(1, 6)) // server-001 stays down: the first storm is still on
  h.advance(5 * MIN)
  h.down(...rack.slice(4, 9))
  h.advance(STORM_HOLD_MS)
  t.same(h.alerts().map(alert => [alert.kind, alert.storm?.servers.map(server => server.id)]), [
    ['down', rack.slice(0, 6)],
    ['down', rack.slice(4, 9)]
  ], 'one alert per wave')
  t.match(h.alerts()[1]!.message, /^DOWN: 5 servers of group Rack A \(of 10\) went down together/)
  h.up('server-001')
  t.same(h.kinds().slice(2), ['up storm Rack A'], 'the first storm is over when its last server is back')
  t.same(h.alerts()[2]!.storm!.servers.map(server => server.id), rack.slice(0, 6))
})

t.test('storm: a whole group down is sent at once; two of ten are single alerts; small groups never storm', async t => {
  const h = harness({ servers: 15, groups: [group('group-1', 'Rack A', ids(3)), group('group-2', 'Rack B', ids(10, 4)), group('group-3', 'Pair', ids(2, 14))] })
  h.down(...ids(3))
  t.same(h.kinds(), ['down storm Rack A'], 'every server of the group down: nothing more can join, no hold')
  h.down('server-004', 'server-005')
  h.down('server-014')
  t.same(h.kinds().slice(1), ['down web-14'], 'a group of two cannot storm: no hold')
  h.advance(STORM_HOLD_MS)
  t.same(h.kinds().slice(2).sort(), ['down web-4', 'down web-5'], 'two of ten: single alerts after the hold')
  h.up('server-004')
  t.same(h.kinds().slice(4), ['up web-4'])
})

t.test('stormCluster: the largest set within 60 s around the server decided on', async t => {
  const at = (...seconds: number[]) => seconds.map((s, i) => ({ id: `s${i}`, since: s * 1000 }))
  t.same(stormCluster(at(0, 10, 50, 65, 200), 50_000).map(x => x.id), ['s0', 's1', 's2'])
  t.same(stormCluster(at(0, 10, 50, 65, 200), 65_000).map(x => x.id), ['s1', 's2', 's3'])
  t.same(stormCluster(at(0, 10, 50, 65, 200), 200_000).map(x => x.id), ['s4'])
})

t.test('disk percent fires once until the disk drops 2 points below; repeats while it lasts; maintenance holds it', async t => {
  const h = harness({ servers: 2, rules: [rule({ on: ['disk'], diskPercent: 90, renotifyMinutes: 60 })] })
  const disk = (percentage: number, name = '/'): DiskInfo => ({ total: 1000, used: percentage * 10, free: 1000 - percentage * 10, percentage, index: 31, name, source: 'snmp' })
  const reading = (...percentages: number[]) => {
    for (const percentage of percentages) {
      h.engine.disks('server-001', [disk(percentage)])
      h.advance(MIN)
    }
  }
  reading(85, 89)
  t.same(h.sent, [], 'below the threshold')
  reading(90)
  t.same(h.alerts().map(alert => [alert.kind, alert.disk]), [['disk', { name: '/', percentage: 90 }]])
  t.equal(h.alerts()[0]!.message, 'DISK: web-1 (10.0.0.1) disk / is 90% full (alert at 90%)')
  reading(89, 90, 91, 89)
  t.equal(h.sent.length, 1, 'wavering around the threshold: once')
  reading(88, 90)
  t.equal(h.sent.length, 2, 'fires again after dropping to 88')
  h.advance(60 * MIN)
  t.equal(h.sent.length, 3, 're-notified after renotifyMinutes')
  t.match(h.alerts()[2]!.message, /^STILL DISK: /)

  h.config.windows = [window({ start: new Date(h.now).toISOString(), end: new Date(h.now + 30 * MIN).toISOString(), scope: { serverIds: ['server-002'], groupIds: [] } })]
  h.advance(S)
  h.engine.disks('server-002', [disk(95, 'data')])
  h.advance(10 * MIN)
  t.equal(h.alerts().filter(alert => alert.server.id === 'server-002').length, 0, 'inside a window: nothing')
  h.advance(21 * MIN)
  t.same(h.alerts().filter(alert => alert.server.id === 'server-002').map(alert => alert.disk), [{ name: 'data', percentage: 95 }], 'after it: the disk alert')
})

t.test('days to full from the forecast: fires at or below the rule\'s days, re-arms above', async t => {
  const h = harness({ servers: 1, rules: [rule({ on: ['disk'], diskDaysToFull: 7 })] })
  const disks: DiskInfo[] = [{ total: 1000, used: 700, free: 300, percentage: 70, index: 31, name: '/', source: 'snmp' }]
  h.engine.disks('server-001', disks)
  t.ok(h.engine.wantsForecast('server-001'))
  h.engine.forecasts('server-001', new Map([['snmp:31', 12.5]]))
  t.same(h.sent, [])
  h.engine.forecasts('server-001', new Map([['snmp:31', 6.25]]))
  t.same(h.alerts().map(alert => alert.disk), [{ name: '/', percentage: 70, daysToFull: 6.25 }])
  t.match(h.alerts()[0]!.message, /will be full in 6\.3 days .*alert at 7 days/)
  h.engine.forecasts('server-001', new Map([['snmp:31', 5]]))
  t.equal(h.sent.length, 1, 'not again while it holds (renotifyMinutes 0)')
  h.engine.forecasts('server-001', new Map([['snmp:31', null]]))
  h.engine.forecasts('server-001', new Map([['snmp:31', 3]]))
  t.equal(h.sent.length, 2, 'again after the forecast went away (no growth) and came back')
  const h2 = harness({ servers: 1, rules: [rule({ on: ['disk'], diskPercent: 90 })] })
  t.notOk(h2.engine.wantsForecast('server-001'), 'no days-to-full rule: no forecast is read')
})

/**
 * A restart `gapMs` after `before`'s last moment: its alerts go into a real SQLite outbox's
 * log, and a new engine (with `setup`) takes up what the log says is open, as alerting.ts does.
 */
async function restarted (t: Tap, before: ReturnType<typeof harness>, setup: Setup, gapMs: number) {
  const storage = createSqliteOutbox(join(await tempDir(t), 'history.sqlite'))
  t.teardown(() => storage.close())
  for (const alert of before.alerts()) await storage.add(alert, [], Date.parse(alert.at))
  return harness({ ...setup, restart: { at: before.now + gapMs, open: await storage.openAlerts() } })
}

t.test('after a restart: no second down for a server still down, its up once the monitor says online, re-notify from the last', async t => {
  const setup: Setup = { servers: 3, rules: [rule({ renotifyMinutes: 30 }), rule({ id: 'rule-2', name: 'Deleted', scope: { serverIds: ['server-001'], groupIds: [] } })] }
  const before = harness(setup)
  before.down('server-001', 'server-002')
  before.advance(MIN)
  before.up('server-002')
  before.advance(9 * MIN)
  t.same(before.alerts().map(alert => `${alert.kind} ${alert.server.name} ${alert.rule.id}`), ['down web-1 rule-1', 'down web-1 rule-2', 'down web-2 rule-1', 'up web-2 rule-1'])

  // Down 5 minutes, rule-2 deleted meanwhile.
  const after = await restarted(t, before, { ...setup, rules: [setup.rules![0]!] }, 5 * MIN)
  after.advance(30 * S)
  t.same(after.sent, [], 'nothing before the monitor has decided')
  after.down('server-001', 'server-002', 'server-003')
  t.same(after.kinds(), ['down web-2', 'down web-3'], 'web-1 is still down: no second down; web-2\'s last alert was its up: a new down')
  after.advance(T0 + 30 * MIN - after.now - S)
  t.equal(after.sent.length, 2, 'no re-notification before 30 minutes after the down sent before the restart')
  after.advance(S)
  t.same(after.kinds().slice(2), ['down web-1'])
  t.match(after.alerts()[2], { since: new Date(T0).toISOString(), durationSeconds: 1800, message: /^STILL DOWN: web-1 .* for 30m / })
  after.up('server-001')
  t.same(after.kinds().slice(3), ['up web-1'], 'its up, once: rule-2 is gone and sends none')
  t.match(after.alerts()[3], { rule: { id: 'rule-1' }, durationSeconds: 1800, message: 'UP: web-1 (10.0.0.1) is up again after 30m down' })

  const back = await restarted(t, before, setup, 5 * MIN)
  back.up('server-001', 'server-002', 'server-003')
  t.same(back.alerts().map(alert => `${alert.kind} ${alert.server.name} ${alert.rule.id}`), ['up web-1 rule-1', 'up web-1 rule-2'],
    'back while the process was down: its ups when the monitor says online, nothing for the others')
  t.equal(back.alerts()[0]!.durationSeconds, 15 * 60, 'down from its flip until the monitor saw it online')
})

t.test('after a restart: a storm is re-notified once the monitor has decided, and its one up names every server it announced', async t => {
  const rack = ids(12)
  const setup: Setup = { servers: 12, groups: [group('group-1', 'Rack A', rack)], rules: [rule({ renotifyMinutes: 30 })] }
  const before = harness(setup)
  before.down(...rack.slice(0, 10))
  before.advance(STORM_HOLD_MS + 20 * S)
  before.down('server-011')
  before.advance(STORM_HOLD_MS)
  t.same(before.kinds(), ['down storm Rack A', 'down storm Rack A'], 'a storm and its follow-up')

  const after = await restarted(t, before, setup, 40 * MIN)
  after.advance(5 * S)
  t.same(after.sent, [], 'its re-notification is due, but the monitor has not decided')
  after.down(...rack.slice(0, 9), 'server-011')
  after.up('server-012')
  t.same(after.sent, [], 'not while one of it is undecided')
  after.up('server-010')
  t.same(after.alerts().map(alert => [alert.kind, alert.storm?.servers.map(server => server.id)]), [['down', [...rack.slice(0, 9), 'server-011']]],
    're-notified at once, naming the ten still down')
  t.match(after.alerts()[0]!.message, /^STILL DOWN: 10 servers of group Rack A/)
  after.advance(MIN)
  after.up(...rack.slice(0, 9))
  t.equal(after.sent.length, 1, 'no up while one is down')
  after.up('server-011')
  t.same(after.alerts().slice(1).map(alert => [alert.kind, alert.storm?.servers.map(server => server.id)]), [['up', rack.slice(0, 11)]],
    'one up, naming the eleven it announced in the order they went down')
  t.equal(after.alerts()[1]!.since, new Date(T0).toISOString(), 'since the storm began')
})

t.test('after a restart: a disk alert is not sent again while its condition lasts', async t => {
  const setup: Setup = { servers: 1, rules: [rule({ on: ['disk'], diskPercent: 90, diskDaysToFull: 7 })] }
  const disks = (percentage: number): DiskInfo[] => [{ total: 1000, used: percentage * 10, free: 1000 - percentage * 10, percentage, index: 31, name: '/', source: 'snmp' }]
  const before = harness(setup)
  before.engine.disks('server-001', disks(91))
  before.engine.forecasts('server-001', new Map([['snmp:31', 5]]))
  t.same(before.alerts().map(alert => alert.disk), [{ name: '/', percentage: 91 }, { name: '/', percentage: 91, daysToFull: 5 }])

  const after = await restarted(t, before, setup, 10 * MIN)
  after.engine.disks('server-001', disks(92))
  after.engine.forecasts('server-001', new Map([['snmp:31', 4]]))
  after.engine.disks('server-001', disks(89))
  t.same(after.sent, [], 'both conditions still hold (89 %: not 2 points below)')
  after.engine.disks('server-001', disks(88))
  after.engine.disks('server-001', disks(90))
  after.engine.forecasts('server-001', new Map([['snmp:31', null]]))
  after.engine.forecasts('server-001', new Map([['snmp:31', 6]]))
  t.same(after.alerts().map(alert => alert.disk), [{ name: '/', percentage: 90 }, { name: '/', percentage: 90, daysToFull: 6 }], 'each again once it had ended')
})

t.test('a deleted server or a new target forgets what was pending, silently', async t => {
  const h = harness({ rules: [rule({ forSeconds: 60 })] })
  h.down('server-001', 'server-002')
  h.engine.forget('server-001')
  h.engine.reset('server-002')
  h.advance(2 * MIN)
  t.same(h.sent, [])
})

t.test('durations read as people say them', async t => {
  t.equal(formatDuration(0), '0s')
  t.equal(formatDuration(59.6), '1m')
  t.equal(formatDuration(3725), '1h 2m 5s')
  t.equal(formatDuration(90000), '1d 1h')
})
