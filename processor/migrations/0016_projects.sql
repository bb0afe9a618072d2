-- Projects and their keys, so that they change without restarting the services: the
-- collector reads them every few seconds, `frontmon-admin projects` and `keys` write them.
-- The configuration's [[projects]] seed them at the processor's start (a project is inserted
-- when its id is absent); from then on these rows are the source of truth.
--
-- Columns rather than one JSON document: each has the type and the bounds the configuration
-- holds it to, so a hand-written UPDATE cannot store what no service could read.
CREATE TABLE projects (
    id                    BIGINT      PRIMARY KEY CHECK (id BETWEEN 1 AND 4294967295),
    name                  TEXT        NOT NULL,
    -- `*` for any origin; at least one, since none would refuse every browser.
    allowed_origins       TEXT[]      NOT NULL CHECK (cardinality(allowed_origins) > 0),
    rate_limit_per_minute BIGINT      CHECK (rate_limit_per_minute BETWEEN 1 AND 4294967295),
    store_ip              BOOLEAN     NOT NULL DEFAULT TRUE,
    scrub                 BOOLEAN     NOT NULL DEFAULT TRUE,
    scrub_emails          BOOLEAN     NOT NULL DEFAULT FALSE,
    scrub_fields          TEXT[]      NOT NULL DEFAULT '{}',
    -- Checked as the configuration checks them when read (`check_routes`).
    routes                TEXT[]      NOT NULL DEFAULT '{}',
    retention_days        INTEGER     CHECK (retention_days BETWEEN 1 AND 65535),
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Several keys per project: a new one is added, the SDKs are moved to it, then the old one is
-- revoked (kept, with the time, so that `keys list` says what happened to it). A key is
-- unique over every project: Faro's /collect finds the project by its key alone.
CREATE TABLE project_keys (
    key        TEXT        PRIMARY KEY CHECK (key ~ '^[0-9a-f]{32}$'),
    project_id BIGINT      NOT NULL REFERENCES projects (id),
    label      TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    revoked_at TIMESTAMPTZ
);

CREATE INDEX project_keys_by_project ON project_keys (project_id, created_at);
