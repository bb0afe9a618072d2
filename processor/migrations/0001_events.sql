-- Every accepted event, once: (project_id, event_id) is the idempotence key, so a
-- redelivered message never becomes a second row.
CREATE TABLE events (
    project_id   BIGINT      NOT NULL,
    event_id     UUID        NOT NULL,
    routing_key  TEXT        NOT NULL,
    -- By the browser's clock.
    occurred_at  TIMESTAMPTZ NOT NULL,
    -- By the collector's; lists and charts use this one, which a client cannot skew.
    received_at  TIMESTAMPTZ NOT NULL,
    message      TEXT,
    url          TEXT,
    release      TEXT,
    environment  TEXT,
    -- The whole event as the collector published it.
    payload      JSONB       NOT NULL,
    PRIMARY KEY (project_id, event_id)
);

-- Newest first per project, and per project and routing key; event_id breaks ties so the
-- (received_at, event_id) cursor is total.
CREATE INDEX events_by_time ON events (project_id, received_at DESC, event_id DESC);
CREATE INDEX events_by_kind ON events (project_id, routing_key, received_at DESC, event_id DESC);
