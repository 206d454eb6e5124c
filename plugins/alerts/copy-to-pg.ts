import type pg from 'pg'
import { columnsOf, copySqliteToPg } from '../../lib/sqlite-to-pg.ts'
import type { DeliveryRow } from './outbox-rows.ts'

interface AlertRow { id: string, at: number, kind: string, body: string }
interface SubjectRow { alertId: string, ruleId: string, serverId: string, groupId: string | null }
/** A delivery as copied: the row the outbox's queries answer, with its alert. */
type CopiedDelivery = DeliveryRow & { alertId: string }

// A page of alerts, and the subjects of those that were not there yet: a copy run again adds nothing.
const INSERT_ALERTS = `WITH alert AS (
    INSERT INTO alert_log (id, at, kind, body)
    SELECT id, at, kind, body FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY AS a (id, at, kind, body, n)
    ORDER BY n
    ON CONFLICT (id) DO NOTHING RETURNING id
  ), subject AS (
    INSERT INTO alert_subjects (alert_id, rule_id, server_id, group_id)
    SELECT s.alert_id, s.rule_id, s.server_id, s.group_id
    FROM unnest($5::text[], $6::text[], $7::text[], $8::text[]) AS s (alert_id, rule_id, server_id, group_id)
    WHERE s.alert_id IN (SELECT id FROM alert)
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM alert)::int AS alerts, (SELECT count(*) FROM subject)::int AS subjects`
// In the order of the SQLite queue: each channel's deliveries keep their order. Unclaimed.
const INSERT_DELIVERIES = `INSERT INTO alert_deliveries
    (key, alert_id, channel_id, state, attempts, created_at, next_attempt_at, last_attempt_at, delivered_at, last_error)
  SELECT key, alert_id, channel_id, state, attempts, created_at, next_attempt_at, last_attempt_at, delivered_at, last_error
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[])
    WITH ORDINALITY AS d (key, alert_id, channel_id, state, attempts, created_at, next_attempt_at, last_attempt_at, delivered_at, last_error, n)
  ORDER BY n
  ON CONFLICT DO NOTHING`
const DELIVERY_COLUMNS = `key, alert_id AS alertId, channel_id AS channelId, state, attempts, created_at AS createdAt,
  next_attempt_at AS nextAttemptAt, last_attempt_at AS lastAttemptAt, delivered_at AS deliveredAt, last_error AS lastError`

/**
 * The alert log and outbox of a node's history database (sqlite-outbox.ts's tables) into the
 * cluster database's (OUTBOX_SCHEMA), in one transaction; alerts and deliveries already there
 * are left as they are. Resolves with the rows added per table.
 */
export function copyAlertsToPostgres (sqliteFile: string, pool: pg.Pool): Promise<Record<string, number>> {
  return copySqliteToPg(sqliteFile, pool, async (source, client) => {
    const copied = { alert_log: 0, alert_subjects: 0, alert_deliveries: 0 }
    if (!source.has('alerts')) return copied
    for (const alerts of source.pages<AlertRow>('alerts', 'id, at, kind, body')) {
      const subjects = source.all<SubjectRow>(`SELECT alert_id AS alertId, rule_id AS ruleId, server_id AS serverId, group_id AS groupId
        FROM alert_subjects WHERE alert_id IN (SELECT value FROM json_each(?)) ORDER BY rowid`, JSON.stringify(alerts.map(alert => alert.id)))
      const { rows: [added] } = await client.query<{ alerts: number, subjects: number }>(INSERT_ALERTS, [
        ...columnsOf(alerts, ['id', 'at', 'kind', 'body']),
        ...columnsOf(subjects, ['alertId', 'ruleId', 'serverId', 'groupId'])
      ])
      copied.alert_log += added!.alerts
      copied.alert_subjects += added!.subjects
    }
    for (const deliveries of source.pages<CopiedDelivery>('alert_deliveries', DELIVERY_COLUMNS)) {
      const { rowCount } = await client.query(INSERT_DELIVERIES, columnsOf(deliveries, [
        'key', 'alertId', 'channelId', 'state', 'attempts', 'createdAt', 'nextAttemptAt', 'lastAttemptAt', 'deliveredAt', 'lastError'
      ]))
      copied.alert_deliveries += rowCount ?? 0
    }
    return copied
  })
}
