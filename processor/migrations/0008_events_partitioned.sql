-- `events`, range-partitioned by day on received_at (UTC days), so that retention drops a
-- whole day at once (DROP TABLE: no DELETE, no vacuum) and a listing of recent days reads
-- only their partitions. The processor creates each day's partition ahead of time
-- (processor/src/lifecycle.rs); `events_default` catches a row outside every partition
-- (a backlog older than the first partition, a clock far ahead) until a partition for its
-- day is created, which moves it there.
--
-- A partitioned table's unique keys must contain the partition column, so the primary key
-- becomes (project_id, event_id, received_at): a broker redelivery carries the collector's
-- received_at and hits it. A client's retry is a new request with a new received_at; each
-- partition has its own unique index on (project_id, event_id), so a copy of the same day
-- is refused too, and `event_keys_near_midnight` catches a copy on the other side of
-- midnight (see docs/data-lifecycle.md).
--
-- The old table is copied, not converted in place (PostgreSQL cannot partition an existing
-- table): this rewrites every row, holds an exclusive lock on `events` for as long, and needs
-- the table's size again in free disk until the old one is dropped at the end.
ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_pkey RENAME TO events_unpartitioned_pkey;
ALTER INDEX events_by_time RENAME TO events_unpartitioned_by_time;
ALTER INDEX events_by_kind RENAME TO events_unpartitioned_by_kind;
ALTER INDEX events_by_issue RENAME TO events_unpartitioned_by_issue;
ALTER INDEX events_by_issue_release RENAME TO events_unpartitioned_by_issue_release;
ALTER INDEX events_by_issue_environment RENAME TO events_unpartitioned_by_issue_environment;

CREATE TABLE events (
    project_id   BIGINT      NOT NULL,
    event_id     UUID        NOT NULL,
    routing_key  TEXT        NOT NULL,
    -- By the browser's clock.
    occurred_at  TIMESTAMPTZ NOT NULL,
    -- By the collector's; lists and charts use this one, which a client cannot skew. The
    -- partition key.
    received_at  TIMESTAMPTZ NOT NULL,
    message      TEXT,
    url          TEXT,
    release      TEXT,
    environment  TEXT,
    -- The whole event as the collector published it.
    payload      JSONB       NOT NULL,
    -- Set in the transaction that finds or opens the issue; no foreign key (migration 0006).
    issue_id     BIGINT
) PARTITION BY RANGE (received_at);

CREATE TABLE events_default PARTITION OF events DEFAULT;

-- One partition per UTC day that has rows, named events_pYYYYMMDD as the processor names
-- the ones it creates.
DO $$
DECLARE
    day date;
    name text;
BEGIN
    FOR day IN
        SELECT DISTINCT (received_at AT TIME ZONE 'UTC')::date FROM events_unpartitioned
    LOOP
        name := 'events_p' || to_char(day, 'YYYYMMDD');
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
            name,
            day::timestamp AT TIME ZONE 'UTC',
            (day + 1)::timestamp AT TIME ZONE 'UTC'
        );
    END LOOP;
END
$$;

-- Loaded before the indexes are built: one sort per index instead of a btree insert per
-- row and index.
INSERT INTO events (project_id, event_id, routing_key, occurred_at, received_at, message,
                    url, release, environment, payload, issue_id)
SELECT project_id, event_id, routing_key, occurred_at, received_at, message,
       url, release, environment, payload, issue_id
FROM events_unpartitioned;

DROP TABLE events_unpartitioned;

ALTER TABLE events ADD PRIMARY KEY (project_id, event_id, received_at);
-- Newest first per project, and per project and routing key; event_id breaks ties so the
-- (received_at, event_id) cursor is total.
CREATE INDEX events_by_time ON events (project_id, received_at DESC, event_id DESC);
CREATE INDEX events_by_kind ON events (project_id, routing_key, received_at DESC, event_id DESC);
CREATE INDEX events_by_issue ON events (issue_id, received_at DESC, event_id DESC)
    WHERE issue_id IS NOT NULL;
-- Issues listed by release or environment (migration 0007).
CREATE INDEX events_by_issue_release ON events (issue_id, release, environment)
    WHERE issue_id IS NOT NULL;
CREATE INDEX events_by_issue_environment ON events (issue_id, environment)
    WHERE issue_id IS NOT NULL;

-- Each partition's own unique index on (project_id, event_id): an event is stored once per
-- partition whatever its received_at. PostgreSQL cannot have it on the parent (it lacks the
-- partition column), so each partition gets it as it is created.
DO $$
DECLARE
    part text;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'events'::regclass
    LOOP
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (project_id, event_id)', part || '_key', part);
    END LOOP;
END
$$;

-- The keys of events received within an hour of midnight (UTC), claimed before the event is
-- inserted: a client's retry on the other side of midnight lands in another partition, where
-- the partition's unique index cannot see the first copy, but not past this table's primary
-- key. The processor deletes keys older than two days (a retry comes within minutes).
CREATE TABLE event_keys_near_midnight (
    project_id  BIGINT      NOT NULL,
    event_id    UUID        NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, event_id)
);
CREATE INDEX event_keys_near_midnight_by_time ON event_keys_near_midnight (received_at);
-- The last two days' keys near midnight, so a retry of an event stored before the upgrade is
-- caught too.
INSERT INTO event_keys_near_midnight (project_id, event_id, received_at)
SELECT project_id, event_id, received_at FROM events
WHERE received_at > now() - interval '2 days'
  AND ((received_at AT TIME ZONE 'UTC')::time < time '01:00'
       OR (received_at AT TIME ZONE 'UTC')::time >= time '23:00');
