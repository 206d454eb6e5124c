import type { Alert, AlertKind } from '../../schemas/alerts.ts'
import { closeDatabase, openDatabase } from '../../lib/sqlite.ts'
import { createWriteBatches } from '../../lib/write-batches.ts'
import type { NewDelivery, OutboxStorage } from './outbox-storage.ts'
import { toLogEntries, toOpenAlert, toQueued, type LogRow, type OpenAlertRow, type QueueRow } from './outbox-rows.ts'

// Tables of their own in the history database (`alerts` and `alert_deliveries`, beside the
// history's tables). `seq` orders each channel's queue; the partial indexes hold only what is
// still to send: the queue in order, and by age for giving up. `alert_subjects` holds, per
// `down`, each server it is about (a storm's every one, with its group), so the `down` an `up`
// follows is an index lookup, not a scan of the channel's log.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS alerts (id TEXT PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_at ON alerts (at);
CREATE TABLE IF NOT EXISTS alert_deliveries (
  seq INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  alert_id TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER,
  last_attempt_at INTEGER,
  delivered_at INTEGER,
  last_error TEXT,
  UNIQUE (alert_id, channel_id)
);
CREATE INDEX IF NOT EXISTS alert_deliveries_queue ON alert_deliveries (channel_id, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS alert_deliveries_age ON alert_deliveries (channel_id, created_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS alert_deliveries_channel ON alert_deliveries (channel_id, seq);
CREATE TABLE IF NOT EXISTS alert_subjects (alert_id TEXT NOT NULL, rule_id TEXT NOT NULL, server_id TEXT NOT NULL, group_id TEXT);
CREATE INDEX IF NOT EXISTS alert_subjects_server ON alert_subjects (rule_id, server_id);
CREATE INDEX IF NOT EXISTS alert_subjects_group ON alert_subjects (rule_id, group_id) WHERE group_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS alert_subjects_alert ON alert_subjects (alert_id);
`

const DELIVERY_COLUMNS = `d.key AS key, d.channel_id AS channelId, d.state AS state, d.attempts AS attempts, d.created_at AS createdAt,
  d.next_attempt_at AS nextAttemptAt, d.last_attempt_at AS lastAttemptAt, d.delivered_at AS deliveredAt, d.last_error AS lastError`

interface AddedAlert { alert: Alert, deliveries: NewDelivery[], now: number }

/** The outbox in the history database file, over its own connection. */
export function createSqliteOutbox (file: string): OutboxStorage {
  const db = openDatabase(file, SCHEMA)

  const insertAlert = db.prepare('INSERT OR IGNORE INTO alerts (id, at, kind, body) VALUES (?, ?, ?, ?)')
  const insertSubject = db.prepare('INSERT INTO alert_subjects (alert_id, rule_id, server_id, group_id) VALUES (?, ?, ?, ?)')
  const insertDelivery = db.prepare(`INSERT OR IGNORE INTO alert_deliveries
    (key, alert_id, channel_id, state, attempts, created_at, next_attempt_at, last_attempt_at, delivered_at, last_error)
    VALUES (@key, @alertId, @channelId, @state, @attempts, @now, @now, @at, @deliveredAt, @error)`)
  // The alerts of one turn of the event loop in one transaction: a burst of 1,000 single
  // alerts is a few commits, not 1,000 (each caller still resolves after its own).
  const adds = createWriteBatches<AddedAlert>(db.transaction((batch: AddedAlert[]) => {
    for (const { alert, deliveries, now } of batch) addAlert(alert, deliveries, now)
  }))
  function addAlert (alert: Alert, deliveries: NewDelivery[], now: number) {
    const at = Date.parse(alert.at)
    const inserted = insertAlert.run(alert.id, Number.isNaN(at) ? now : at, alert.kind, JSON.stringify(alert)).changes > 0
    if (inserted && alert.kind === 'down') {
      for (const server of alert.storm?.servers ?? [alert.server]) insertSubject.run(alert.id, alert.rule.id, server.id, alert.storm?.group.id ?? null)
    }
    for (const { channelId, key, attempt } of deliveries) {
      insertDelivery.run({
        key,
        alertId: alert.id,
        channelId,
        now,
        state: attempt?.state ?? 'pending',
        attempts: attempt === undefined ? 0 : 1,
        at: attempt?.at ?? null,
        deliveredAt: attempt?.state === 'delivered' ? attempt.at : null,
        error: attempt?.error ?? null
      })
    }
  }

  const queueQuery = db.prepare(`SELECT ${DELIVERY_COLUMNS}, a.body AS body FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
    WHERE d.channel_id = ? AND d.state = 'pending' ORDER BY d.seq LIMIT ?`)
  const pendingChannelsQuery = db.prepare("SELECT DISTINCT channel_id AS channelId FROM alert_deliveries WHERE state = 'pending'")
  // A delivery keeps the error of its last failed attempt: the log shows why it took several.
  const recordAttempt = db.prepare(`UPDATE alert_deliveries SET state = @state, attempts = attempts + 1, last_attempt_at = @at,
    next_attempt_at = @nextAttemptAt, delivered_at = CASE WHEN @state = 'delivered' THEN @at ELSE NULL END,
    last_error = CASE WHEN @state = 'delivered' THEN last_error ELSE @error END
    WHERE key = @key AND state = 'pending'`)
  const abandonQuery = db.prepare(`UPDATE alert_deliveries SET state = 'failed', next_attempt_at = NULL, last_error = @error
    WHERE channel_id = @channelId AND state = 'pending' AND (@before IS NULL OR created_at < @before)
    RETURNING (SELECT kind FROM alerts WHERE id = alert_id) AS kind`)
  const failQuery = db.prepare(`UPDATE alert_deliveries SET state = 'failed', next_attempt_at = NULL, last_error = @error
    WHERE key = @key AND state = 'pending'`)
  // The latest `down` before this `up` on its channel, of the same rule and server: sent alone,
  // or in a storm naming the server or the same group.
  const pairedDownQuery = db.prepare(`SELECT d.state AS state FROM alert_subjects s
    JOIN alert_deliveries d ON d.alert_id = s.alert_id AND d.channel_id = @channelId
    WHERE s.rule_id = @ruleId AND (s.server_id = @serverId OR s.group_id = @groupId)
      AND d.seq < (SELECT seq FROM alert_deliveries WHERE key = @key)
    ORDER BY d.seq DESC LIMIT 1`)
  const retryNowQuery = db.prepare(`UPDATE alert_deliveries SET next_attempt_at = @now
    WHERE channel_id = @channelId AND state = 'pending' AND next_attempt_at > @now`)
  // Only alerts none of whose deliveries is still to send; their deliveries go with them.
  const prunableAlerts = `SELECT id FROM alerts a WHERE a.at < @before
    AND NOT EXISTS (SELECT 1 FROM alert_deliveries p WHERE p.alert_id = a.id AND p.state = 'pending')`
  const pruneDeliveries = db.prepare(`DELETE FROM alert_deliveries WHERE alert_id IN (${prunableAlerts})`)
  const pruneAlerts = db.prepare(`DELETE FROM alerts WHERE id IN (${prunableAlerts})`)
  const pruneSubjects = db.prepare(`DELETE FROM alert_subjects WHERE alert_id IN (${prunableAlerts})`)
  const prune = db.transaction((before: number) => {
    pruneSubjects.run({ before })
    pruneDeliveries.run({ before })
    return pruneAlerts.run({ before }).changes
  })
  const listQuery = db.prepare(`SELECT a.id AS alertId, a.body AS body, ${DELIVERY_COLUMNS}
    FROM (SELECT id, at, body FROM alerts WHERE at >= ? AND at <= ? ORDER BY at DESC, id DESC LIMIT ?) a
    LEFT JOIN alert_deliveries d ON d.alert_id = a.id ORDER BY a.at DESC, a.id DESC, d.seq`)
  // Each alert once per server it is about (a storm's for each server it names); per rule,
  // server and subject (availability, or one disk's condition) the latest, in the order of
  // `at` and then of insertion.
  const openAlertsQuery = db.prepare(`WITH subjects AS (
      SELECT a.rowid AS seq, a.at AS at, a.kind AS kind, a.body AS body, s.key AS position,
        json_extract(a.body, '$.rule.id') AS ruleId,
        coalesce(json_extract(s.value, '$.id'), json_extract(a.body, '$.server.id')) AS serverId,
        json_extract(a.body, '$.disk.name') AS diskName,
        json_type(a.body, '$.disk.daysToFull') IS NOT NULL AS byDays
      FROM alerts a LEFT JOIN json_each(a.body, '$.storm.servers') s
      WHERE a.kind IN ('down', 'up', 'disk')
    ), ranked AS (
      SELECT *, row_number() OVER (PARTITION BY ruleId, serverId, kind = 'disk', diskName, byDays ORDER BY at DESC, seq DESC) AS n FROM subjects
    )
    SELECT kind, ruleId, serverId, at, json_extract(body, '$.since') AS since, position,
      json_extract(body, '$.storm.group.id') AS groupId, json_extract(body, '$.storm.group.name') AS groupName, diskName, byDays
    FROM ranked WHERE n = 1 AND kind IN ('down', 'disk')`)

  return {
    add: (alert, deliveries, now) => adds.add({ alert, deliveries, now }),
    async queue (channelId, limit) {
      return (queueQuery.all(channelId, limit) as QueueRow[]).map(toQueued)
    },
    async pendingChannels () {
      return (pendingChannelsQuery.all() as Array<{ channelId: string }>).map(row => row.channelId)
    },
    async record (attempt) { recordAttempt.run(attempt) },
    async fail (key, error) { failQuery.run({ key, error }) },
    async downFailed ({ key, channelId, alert }) {
      const down = pairedDownQuery.get({ key, channelId, ruleId: alert.rule.id, serverId: alert.server.id, groupId: alert.storm?.group.id ?? null }) as { state: string } | undefined
      return down?.state === 'failed'
    },
    async retryNow (channelId, now) { retryNowQuery.run({ channelId, now }) },
    async prune (before) { return prune(before) },
    async abandon (channelId, before, error) {
      return (abandonQuery.all({ channelId, before, error }) as Array<{ kind: AlertKind }>).map(row => row.kind)
    },
    async list (from, to, limit) {
      return toLogEntries(listQuery.all(from, to, limit) as LogRow[])
    },
    async openAlerts () {
      return (openAlertsQuery.all() as OpenAlertRow[]).map(toOpenAlert)
    },
    async close () {
      if (db.open) adds.flush()
      closeDatabase(db)
    }
  }
}
