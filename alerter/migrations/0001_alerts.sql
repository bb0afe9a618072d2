-- The alerter's own state, in its own schema (`alerter`) of the shared database: what it has
-- seen, its cooldowns and windows, and every notification it made. The processor's tables
-- are never read: the alerter learns about issues from its queue only.

-- Every issue (fingerprint) the alerter has seen an event of: `new_issue` fires once each.
CREATE TABLE seen_issues (
    project_id       BIGINT      NOT NULL,
    fingerprint      TEXT        NOT NULL,
    first_seen       TIMESTAMPTZ NOT NULL,
    -- From `issue.resolved` notices: the issue's latest release when it was resolved, for
    -- `regression` rules with `newer_release_only`.
    resolved_at      TIMESTAMPTZ,
    resolved_release TEXT,
    PRIMARY KEY (project_id, fingerprint)
);

-- One row per (rule, issue) that notified: written with the notification, so a restart
-- forgets no cooldown.
CREATE TABLE cooldowns (
    rule        TEXT        NOT NULL,
    project_id  BIGINT      NOT NULL,
    fingerprint TEXT        NOT NULL,
    record      JSONB       NOT NULL,
    notified_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (rule, project_id, fingerprint)
);

-- The rules' counting windows, checkpointed every few seconds (approximate after a crash).
CREATE TABLE windows (
    id       INTEGER     PRIMARY KEY CHECK (id = 1),
    snapshot JSONB       NOT NULL,
    saved_at TIMESTAMPTZ NOT NULL
);

-- Every notification, one per channel: pending until sent, folded into a digest, or failed.
CREATE TABLE notifications (
    id              BIGSERIAL   PRIMARY KEY,
    -- Stable across redeliveries of what triggered it: inserted once (ON CONFLICT DO NOTHING),
    -- and sent to receivers as X-Frontmon-Delivery so they can deduplicate.
    delivery_id     TEXT        NOT NULL UNIQUE,
    channel         TEXT        NOT NULL,
    rule            TEXT        NOT NULL,
    reason          TEXT        NOT NULL,
    project_id      BIGINT      NOT NULL,
    fingerprint     TEXT        NOT NULL,
    level           TEXT,
    message         JSONB       NOT NULL,
    -- What triggered it (the event or notice as queued), dead-lettered if it fails for good.
    source          JSONB,
    status          TEXT        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'folded', 'failed')),
    -- For a folded notification: the digest that carried it.
    digest_id       BIGINT      REFERENCES notifications (id),
    -- Sent at once even during the channel's quiet hours (a fatal new issue).
    breaks_quiet    BOOLEAN     NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    last_error      TEXT,
    finished_at     TIMESTAMPTZ
);

CREATE INDEX notifications_pending ON notifications (channel, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX notifications_recent ON notifications (created_at DESC, id DESC);
