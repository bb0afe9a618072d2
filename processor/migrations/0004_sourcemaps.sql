-- Source maps uploaded by builds, to resolve minified stack frames (processor/src/symbolicate).
-- Never served back: the API lists their names and sizes only.
CREATE TABLE sourcemaps (
    id          BIGSERIAL   PRIMARY KEY,
    project_id  BIGINT      NOT NULL,
    -- The release the build belongs to; '' for maps matched by debug id only.
    release     TEXT        NOT NULL DEFAULT '',
    -- The minified file as frames name it: its URL (https://shop.example/static/app.3f9a.js),
    -- or "~" and its path for any host (~/static/app.3f9a.js).
    name        TEXT        NOT NULL,
    -- The build's debug id (the map's debugId, the file's //# debugId= comment), which Sentry
    -- events carry in debug_meta.images: matches without any release bookkeeping.
    debug_id    UUID,
    -- The source map, as uploaded.
    map         BYTEA       NOT NULL,
    -- The minified file, when uploaded: frames then get their original function names.
    minified    BYTEA,
    size_bytes  BIGINT      NOT NULL,
    uploaded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (project_id, release, name)
);

CREATE INDEX sourcemaps_by_debug_id ON sourcemaps (project_id, debug_id)
    WHERE debug_id IS NOT NULL;
