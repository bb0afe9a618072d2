-- The analytics' rollups, updated in each batch's transaction for the events stored for the
-- first time (docs/analytics.md). Every table has an hourly grain (grain = 0, `at` on the
-- UTC hour) and a daily one (grain = 1, `at` at UTC midnight), written together.
--
-- Dimensions are not crossed: an event adds to the total (dim 0, value '') and to one row
-- per dimension (1 page, 2 browser, 3 os, 4 device class, 5 referrer host), each beside
-- its environment and release. `shard` is the consume session's number, so two sessions
-- never update the same row (a hot page would otherwise make them wait for each other's
-- commit); readers sum (or take the greatest) over shards.

-- Counters: page views, and each vital's ratings (docs/analytics.md#measures).
CREATE TABLE rollup_counts (
    project_id   BIGINT      NOT NULL,
    grain        SMALLINT    NOT NULL,
    measure      SMALLINT    NOT NULL,
    dim          SMALLINT    NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    value        TEXT        NOT NULL,
    environment  TEXT        NOT NULL,
    release      TEXT        NOT NULL,
    shard        SMALLINT    NOT NULL,
    n            BIGINT      NOT NULL,
    PRIMARY KEY (project_id, grain, measure, dim, at, value, environment, release, shard)
);

-- Log-bucketed histograms (5 % wide buckets): `n` values of `metric` fell in `bucket`.
-- Merged over any range and filter by adding.
CREATE TABLE rollup_histograms (
    project_id   BIGINT      NOT NULL,
    grain        SMALLINT    NOT NULL,
    metric       SMALLINT    NOT NULL,
    dim          SMALLINT    NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    value        TEXT        NOT NULL,
    environment  TEXT        NOT NULL,
    release      TEXT        NOT NULL,
    bucket       SMALLINT    NOT NULL,
    shard        SMALLINT    NOT NULL,
    n            BIGINT      NOT NULL,
    PRIMARY KEY (project_id, grain, metric, dim, at, value, environment, release, bucket, shard)
);

-- HyperLogLog registers (1,024 per sketch), as rows: a sketch is its nonzero registers,
-- and sketches merge by taking each register's greatest rank.
CREATE TABLE rollup_distinct (
    project_id   BIGINT      NOT NULL,
    grain        SMALLINT    NOT NULL,
    measure      SMALLINT    NOT NULL,
    dim          SMALLINT    NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    value        TEXT        NOT NULL,
    environment  TEXT        NOT NULL,
    release      TEXT        NOT NULL,
    register     SMALLINT    NOT NULL,
    shard        SMALLINT    NOT NULL,
    rank         SMALLINT    NOT NULL,
    PRIMARY KEY (project_id, grain, measure, dim, at, value, environment, release, register, shard)
);

-- One row per session, exact: when it started and was last seen, where it entered, how
-- many pages it viewed. Bounce rate, session length and entry pages are read from here.
CREATE TABLE rollup_sessions (
    project_id   BIGINT      NOT NULL,
    session_id   TEXT        NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    last_at      TIMESTAMPTZ NOT NULL,
    environment  TEXT        NOT NULL,
    release      TEXT        NOT NULL,
    -- The first page view's page and time; '' and NULL until the session has one.
    entry_page   TEXT        NOT NULL,
    entry_at     TIMESTAMPTZ,
    browser      TEXT        NOT NULL,
    os           TEXT        NOT NULL,
    device       TEXT        NOT NULL,
    pageviews    INT         NOT NULL,
    PRIMARY KEY (project_id, session_id)
);
CREATE INDEX rollup_sessions_by_start ON rollup_sessions (project_id, started_at);
