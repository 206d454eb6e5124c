/**
 * The core of the cluster database (migration 1). Documents and events are kept as `text`,
 * not `jsonb`: they are read back byte for byte (jsonb reorders keys), and PostgreSQL never
 * looks inside them.
 */
export const CORE_SCHEMA = `
-- The configuration's version: the compare-and-set of every write (optimistic concurrency).
CREATE TABLE config_head (
  id integer PRIMARY KEY CHECK (id = 1),
  version bigint NOT NULL
);
INSERT INTO config_head VALUES (1, 0);

-- The whole configuration at a version; a node starts from the latest and replays the log after event_id.
CREATE TABLE config_snapshots (
  version bigint PRIMARY KEY,
  event_id bigint NOT NULL,
  document text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One global order for everything a node must learn: configuration changes (kind 'config',
-- with their version) and the events of SPEC §5 (kind 'event'), whose ids are the SSE ids.
-- Rows are inserted under one advisory lock (event-log.ts), so ids become visible in order.
CREATE TABLE event_log (
  id bigserial PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('config', 'event')),
  version bigint,
  payload text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_log_config ON event_log (id) WHERE kind = 'config';
CREATE INDEX event_log_at ON event_log (at);
-- The newest event pruned: a resume from before it cannot be served from the log.
CREATE TABLE event_log_pruned (
  id integer PRIMARY KEY CHECK (id = 1),
  through bigint NOT NULL
);
INSERT INTO event_log_pruned VALUES (1, 0);

-- Each server's status as the leader last published it: a new leader and a starting node begin here.
CREATE TABLE server_statuses (
  server_id text PRIMARY KEY,
  status text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Small documents every node shares as a whole: the API tokens (SPEC §11), name 'tokens'.
CREATE TABLE shared_documents (
  name text PRIMARY KEY,
  text text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The leader lease (lease.ts): one row, taken over once expires_at (the database's clock) has passed.
CREATE TABLE leader_lease (
  id integer PRIMARY KEY CHECK (id = 1),
  holder text,
  term bigint NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO leader_lease (id) VALUES (1);
`
