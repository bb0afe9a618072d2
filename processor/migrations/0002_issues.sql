-- Issues: errors grouped by fingerprint (shared::grouping), one row per problem. Updated in
-- the same transaction as the events they count, and only for events stored for the first
-- time, so a redelivered event never counts twice.
CREATE TABLE issues (
    id               BIGSERIAL   PRIMARY KEY,
    project_id       BIGINT      NOT NULL,
    -- Grouping under another version never merges into an existing issue.
    grouping_version INTEGER     NOT NULL,
    fingerprint      TEXT        NOT NULL,
    title            TEXT        NOT NULL,
    culprit          TEXT,
    level            TEXT        NOT NULL,
    status           TEXT        NOT NULL DEFAULT 'unresolved'
                     CHECK (status IN ('unresolved', 'resolved', 'ignored')),
    -- Set when a resolved issue gets a new event (and it becomes unresolved again).
    regressed_at     TIMESTAMPTZ,
    resolved_at      TIMESTAMPTZ,
    first_seen       TIMESTAMPTZ NOT NULL,
    last_seen        TIMESTAMPTZ NOT NULL,
    event_count      BIGINT      NOT NULL,
    user_count       BIGINT      NOT NULL DEFAULT 0,
    first_release    TEXT,
    last_release     TEXT,
    UNIQUE (project_id, grouping_version, fingerprint)
);

CREATE INDEX issues_by_last_seen ON issues (project_id, status, last_seen DESC, id DESC);

-- Who was affected, to count distinct users without counting twice.
CREATE TABLE issue_users (
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    user_key TEXT   NOT NULL,
    PRIMARY KEY (issue_id, user_key)
);

ALTER TABLE events ADD COLUMN issue_id BIGINT REFERENCES issues (id) ON DELETE SET NULL;
CREATE INDEX events_by_issue ON events (issue_id, received_at DESC, event_id DESC)
    WHERE issue_id IS NOT NULL;
