-- A batch's counter, histogram and sketch additions, stored in the batch's transaction as
-- one row per table: the entries as column arrays (docs/analytics.md#how-it-is-computed).
-- A fold (at most half a second later under load, and before each analytics read) deletes
-- them and adds their sums to the rollup tables in one transaction, so every batch is
-- counted once, and a row many batches add to is written once per fold, not per batch.
--
-- The consume sessions only insert here: they never wait for each other, nor for a fold.

CREATE TABLE rollup_counts_pending (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shard        SMALLINT    NOT NULL,
    project_id   BIGINT[]    NOT NULL,
    grain        SMALLINT[]  NOT NULL,
    measure      SMALLINT[]  NOT NULL,
    dim          SMALLINT[]  NOT NULL,
    at           TIMESTAMPTZ[] NOT NULL,
    value        TEXT[]      NOT NULL,
    environment  TEXT[]      NOT NULL,
    release      TEXT[]      NOT NULL,
    n            BIGINT[]    NOT NULL
);

CREATE TABLE rollup_histograms_pending (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shard        SMALLINT    NOT NULL,
    project_id   BIGINT[]    NOT NULL,
    grain        SMALLINT[]  NOT NULL,
    metric       SMALLINT[]  NOT NULL,
    dim          SMALLINT[]  NOT NULL,
    at           TIMESTAMPTZ[] NOT NULL,
    value        TEXT[]      NOT NULL,
    environment  TEXT[]      NOT NULL,
    release      TEXT[]      NOT NULL,
    bucket       SMALLINT[]  NOT NULL,
    n            BIGINT[]    NOT NULL
);

CREATE TABLE rollup_distinct_pending (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shard        SMALLINT    NOT NULL,
    project_id   BIGINT[]    NOT NULL,
    grain        SMALLINT[]  NOT NULL,
    measure      SMALLINT[]  NOT NULL,
    dim          SMALLINT[]  NOT NULL,
    at           TIMESTAMPTZ[] NOT NULL,
    value        TEXT[]      NOT NULL,
    environment  TEXT[]      NOT NULL,
    release      TEXT[]      NOT NULL,
    register     SMALLINT[]  NOT NULL,
    rank         SMALLINT[]  NOT NULL
);
