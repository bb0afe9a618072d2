-- Issue notices (shared::notice) waiting to be published on the events exchange. Written in
-- the same transaction as the change they announce, deleted once the broker confirmed them:
-- a notice is never lost to a crash between the commit and the publish.
CREATE TABLE outbox (
    id          BIGSERIAL   PRIMARY KEY,
    routing_key TEXT        NOT NULL,
    project_id  BIGINT      NOT NULL,
    notice_id   UUID        NOT NULL,
    body        JSONB       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
