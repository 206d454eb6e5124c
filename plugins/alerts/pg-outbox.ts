import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import type { Alert, AlertKind } from '../../schemas/alerts.ts'
import type { NewDelivery, OutboxStorage } from './outbox-storage.ts'
import { toLogEntries, toOpenAlert, toQueued, type LogRow, type OpenAlertRow, type QueueRow } from './outbox-rows.ts'

/**
 * The outbox's tables in the cluster database (SPEC §12), as sqlite-outbox.ts has them, plus
 * a claim per delivery (see `queue`). Alert ids compare as bytes (COLLATE "C"), as in SQLite,
 * so the log's order is the same; the body is text, not jsonb, since a webhook is sent it byte
 * for byte. Deliveries and subjects go with their alert (ON DELETE CASCADE). Run once as a migration.
 */
export const OUTBOX_SCHEMA = `
CREATE TABLE alert_log (
  id text COLLATE "C" PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  at bigint NOT NULL,
  kind text NOT NULL,
  body text NOT NULL
);
CREATE INDEX alert_log_at ON alert_log (at);
CREATE TABLE alert_deliveries (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key text NOT NULL UNIQUE,
  alert_id text COLLATE "C" NOT NULL REFERENCES alert_log (id) ON DELETE CASCADE,
  channel_id text NOT NULL,
  state text NOT NULL,
  attempts integer NOT NULL,
  created_at bigint NOT NULL,
  next_attempt_at bigint,
  last_attempt_at bigint,
  delivered_at bigint,
  last_error text,
  claimed_by text,
  claimed_until timestamptz,
  UNIQUE (alert_id, channel_id)
);
CREATE INDEX alert_deliveries_queue ON alert_deliveries (channel_id, seq) WHERE state = 'pending';
CREATE INDEX alert_deliveries_age ON alert_deliveries (channel_id, created_at) WHERE state = 'pending';
CREATE TABLE alert_subjects (
  alert_id text COLLATE "C" NOT NULL REFERENCES alert_log (id) ON DELETE CASCADE,
  rule_id text NOT NULL,
  server_id text NOT NULL,
  group_id text
);
CREATE INDEX alert_subjects_server ON alert_subjects (rule_id, server_id);
CREATE INDEX alert_subjects_group ON alert_subjects (rule_id, group_id) WHERE group_id IS NOT NULL;
CREATE INDEX alert_subjects_alert ON alert_subjects (alert_id);
`

export interface PgOutboxOptions {
  /**
   * How long a claim on a channel's deliveries holds without news from its node: longer than
   * one attempt (40 s with the default timeouts), or a live node's channel would be taken.
   */
  claimMs?: number
}

const DEFAULT_CLAIM_MS = 120_000

// bigint comes back from pg as a string: float8 holds epoch milliseconds exactly.
const DELIVERY_COLUMNS = `d.key, d.channel_id AS "channelId", d.state, d.attempts, d.created_at::float8 AS "createdAt",
  d.next_attempt_at::float8 AS "nextAttemptAt", d.last_attempt_at::float8 AS "lastAttemptAt",
  d.delivered_at::float8 AS "deliveredAt", d.last_error AS "lastError"`

/** Free for the node `$me`: unclaimed, its own, or its claimer silent past the claim's end. */
const claimableBy = (me: string, table = 'alert_deliveries') =>
  `(${table}.claimed_by IS NULL OR ${table}.claimed_by = ${me} OR ${table}.claimed_until < now())`

// The alert (once), the servers a `down` is about, and its deliveries (each channel once):
// one statement, so one commit and no transaction to hold a connection for.
const ADD = `WITH alert AS (
    INSERT INTO alert_log (id, at, kind, body) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING RETURNING id
  ), subjects AS (
    INSERT INTO alert_subjects (alert_id, rule_id, server_id, group_id)
    SELECT alert.id, $5, server_id, $7 FROM alert, unnest($6::text[]) AS server_id
  )
  INSERT INTO alert_deliveries (key, alert_id, channel_id, state, attempts, created_at, next_attempt_at, last_attempt_at, delivered_at, last_error)
  SELECT key, $1, channel_id, state, attempts, $8, $8, at, CASE WHEN state = 'delivered' THEN at END, error
  FROM unnest($9::text[], $10::text[], $11::text[], $12::int[], $13::bigint[], $14::text[])
    WITH ORDINALITY AS delivery (key, channel_id, state, attempts, at, error, n)
  ORDER BY n
  ON CONFLICT DO NOTHING`

/*
 * Two nodes must never work one channel's head at once (SPEC §12): in the changeover of the
 * leader, the old one may still be in an attempt when the new one starts. A worker sends
 * outside any transaction (an attempt takes up to 40 s), so a transaction-scoped advisory lock
 * or a row lock would be gone before the send; a session lock would tie a pooled connection to
 * each channel. So each delivery carries a lease, `claimed_by` (the node) and `claimed_until`
 * (by the database's one clock, not the nodes'), and a channel belongs to whoever holds its head:
 * - `queue` locks the channel's head with FOR UPDATE SKIP LOCKED. Skipped (another node is
 *   claiming or finishing it this moment) the row it gets is not the head, and it answers
 *   nothing, as it does when the head is claimed by another node; else it claims the first
 *   `limit` deliveries in the same statement: a worker goes through a batch without asking
 *   again, so what follows the head must be its own too.
 * - `record`, `fail` and `abandon` release the deliveries they write (a head waiting for its
 *   retry is anyone's); `record` and `fail` renew the node's other claims on the channel, since
 *   its worker goes on with the batch.
 * - A node that stops answering loses the channel `claimMs` after its last word.
 */
const QUEUE = `WITH head AS (
    SELECT seq, claimed_by, claimed_until FROM alert_deliveries
    WHERE channel_id = $1 AND state = 'pending' ORDER BY seq LIMIT 1
    FOR UPDATE SKIP LOCKED
  ), owned AS (
    SELECT 1 FROM head WHERE ${claimableBy('$3', 'head')}
      AND NOT EXISTS (SELECT 1 FROM alert_deliveries p WHERE p.channel_id = $1 AND p.state = 'pending' AND p.seq < head.seq)
  ), claimed AS (
    UPDATE alert_deliveries SET claimed_by = $3, claimed_until = now() + $4::int * interval '1 millisecond'
    WHERE seq IN (SELECT seq FROM alert_deliveries WHERE channel_id = $1 AND state = 'pending' ORDER BY seq LIMIT $2)
      AND state = 'pending' AND EXISTS (SELECT 1 FROM owned)
    RETURNING *
  )
  SELECT ${DELIVERY_COLUMNS}, a.body FROM claimed d JOIN alert_log a ON a.id = d.alert_id ORDER BY d.seq`

/** `finish` (an UPDATE of the delivery `$1` returning its channel), then the node `$me`'s other claims on the channel renewed. */
const thenRenew = (finish: string, me: string, claimMs: string) => `WITH finished AS (${finish})
  UPDATE alert_deliveries d SET claimed_until = now() + ${claimMs}::int * interval '1 millisecond' FROM finished
  WHERE d.channel_id = finished.channel_id AND d.claimed_by = ${me} AND d.state = 'pending' AND d.key <> $1`

// A delivery keeps the error of its last failed attempt: the log shows why it took several.
const RECORD = thenRenew(`UPDATE alert_deliveries SET state = $2, attempts = attempts + 1, last_attempt_at = $3,
    next_attempt_at = $4, delivered_at = CASE WHEN $2 = 'delivered' THEN $3::bigint END,
    last_error = CASE WHEN $2 = 'delivered' THEN last_error ELSE $5 END, claimed_by = NULL, claimed_until = NULL
    WHERE key = $1 AND state = 'pending' RETURNING channel_id`, '$6', '$7')
const FAIL = thenRenew(`UPDATE alert_deliveries SET state = 'failed', next_attempt_at = NULL, last_error = $2, claimed_by = NULL, claimed_until = NULL
    WHERE key = $1 AND state = 'pending' RETURNING channel_id`, '$3', '$4')
// What another node holds is its to finish: it may be sending it now.
const ABANDON = `UPDATE alert_deliveries SET state = 'failed', next_attempt_at = NULL, last_error = $3, claimed_by = NULL, claimed_until = NULL
  WHERE channel_id = $1 AND state = 'pending' AND ($2::bigint IS NULL OR created_at < $2) AND ${claimableBy('$4')}
  RETURNING (SELECT kind FROM alert_log WHERE id = alert_id) AS kind`
// The latest `down` before this `up` on its channel, of the same rule and server: sent alone,
// or in a storm naming the server or the same group.
const PAIRED_DOWN = `SELECT d.state FROM alert_subjects s
  JOIN alert_deliveries d ON d.alert_id = s.alert_id AND d.channel_id = $2
  WHERE s.rule_id = $3 AND (s.server_id = $4 OR s.group_id = $5)
    AND d.seq < (SELECT seq FROM alert_deliveries WHERE key = $1)
  ORDER BY d.seq DESC LIMIT 1`
const RETRY_NOW = `UPDATE alert_deliveries SET next_attempt_at = $2
  WHERE channel_id = $1 AND state = 'pending' AND next_attempt_at > $2`
// Only alerts none of whose deliveries is still to send; their deliveries and subjects go with them.
const PRUNE = `DELETE FROM alert_log a WHERE a.at < $1
  AND NOT EXISTS (SELECT 1 FROM alert_deliveries p WHERE p.alert_id = a.id AND p.state = 'pending')`
const LIST = `SELECT a.id AS "alertId", a.body, ${DELIVERY_COLUMNS}
  FROM (SELECT id, at, body FROM alert_log WHERE at >= $1 AND at <= $2 ORDER BY at DESC, id DESC LIMIT $3) a
  LEFT JOIN alert_deliveries d ON d.alert_id = a.id ORDER BY a.at DESC, a.id DESC, d.seq`
// As in SQLite: each alert once per server it is about (a storm's for each server it names);
// per rule, server and subject (availability, or one disk's condition) the latest, in the
// order of `at` and then of insertion.
const OPEN_ALERTS = `WITH subjects AS (
    SELECT a.seq, a.at, a.kind, b.body, s.n - 1 AS position,
      b.body #>> '{rule,id}' AS "ruleId",
      coalesce(s.server ->> 'id', b.body #>> '{server,id}') AS "serverId",
      b.body #>> '{disk,name}' AS "diskName",
      (b.body #> '{disk,daysToFull}' IS NOT NULL)::int AS "byDays"
    FROM alert_log a CROSS JOIN LATERAL (SELECT a.body::jsonb AS body) b
      LEFT JOIN LATERAL jsonb_array_elements(b.body #> '{storm,servers}') WITH ORDINALITY AS s (server, n) ON true
    WHERE a.kind IN ('down', 'up', 'disk')
  ), ranked AS (
    SELECT *, row_number() OVER (PARTITION BY "ruleId", "serverId", kind = 'disk', "diskName", "byDays" ORDER BY at DESC, seq DESC) AS n FROM subjects
  )
  SELECT kind, "ruleId", "serverId", at::float8 AS at, body ->> 'since' AS since, position::int AS position,
    body #>> '{storm,group,id}' AS "groupId", body #>> '{storm,group,name}' AS "groupName", "diskName", "byDays"
  FROM ranked WHERE n = 1 AND kind IN ('down', 'disk')`

function addParameters (alert: Alert, deliveries: NewDelivery[], now: number) {
  const at = Date.parse(alert.at)
  const subjects = alert.kind === 'down' ? (alert.storm?.servers ?? [alert.server]).map(server => server.id) : []
  return [
    alert.id, Number.isNaN(at) ? now : at, alert.kind, JSON.stringify(alert),
    alert.rule.id, subjects, alert.storm?.group.id ?? null,
    now,
    deliveries.map(d => d.key), deliveries.map(d => d.channelId), deliveries.map(d => d.attempt?.state ?? 'pending'),
    deliveries.map(d => (d.attempt === undefined ? 0 : 1)), deliveries.map(d => d.attempt?.at ?? null), deliveries.map(d => d.attempt?.error ?? null)
  ]
}

/** The outbox in PostgreSQL, over the node's pool (which it leaves open); each instance is one node to the others. */
export function createPgOutbox (pool: pg.Pool, options: PgOutboxOptions = {}): OutboxStorage {
  const me = randomUUID()
  const claimMs = options.claimMs ?? DEFAULT_CLAIM_MS
  // One at a time, in the order asked: `seq` is drawn at insert, so two adds on two connections
  // could commit the other way round, and a worker could see a channel's `up` before its `down`.
  let adding: Promise<unknown> = Promise.resolve()

  return {
    add (alert, deliveries, now) {
      const added = adding.then(() => pool.query(ADD, addParameters(alert, deliveries, now)))
      adding = added.catch(() => {})
      return added.then(() => {})
    },
    async queue (channelId, limit) {
      return (await pool.query<QueueRow>(QUEUE, [channelId, limit, me, claimMs])).rows.map(toQueued)
    },
    async pendingChannels () {
      const { rows } = await pool.query<{ channel_id: string }>("SELECT DISTINCT channel_id FROM alert_deliveries WHERE state = 'pending'")
      return rows.map(row => row.channel_id)
    },
    async record ({ key, state, at, nextAttemptAt, error }) {
      await pool.query(RECORD, [key, state, at, nextAttemptAt, error, me, claimMs])
    },
    async fail (key, error) {
      await pool.query(FAIL, [key, error, me, claimMs])
    },
    async abandon (channelId, before, error) {
      return (await pool.query<{ kind: AlertKind }>(ABANDON, [channelId, before, error, me])).rows.map(row => row.kind)
    },
    async downFailed ({ key, channelId, alert }) {
      const { rows } = await pool.query<{ state: string }>(PAIRED_DOWN, [key, channelId, alert.rule.id, alert.server.id, alert.storm?.group.id ?? null])
      return rows[0]?.state === 'failed'
    },
    async retryNow (channelId, now) {
      await pool.query(RETRY_NOW, [channelId, now])
    },
    async prune (before) {
      return (await pool.query(PRUNE, [before])).rowCount ?? 0
    },
    async list (from, to, limit) {
      return toLogEntries((await pool.query<LogRow>(LIST, [from, to, limit])).rows)
    },
    async openAlerts () {
      return (await pool.query<OpenAlertRow>(OPEN_ALERTS)).rows.map(toOpenAlert)
    },
    async close () {
      await adding
    }
  }
}
