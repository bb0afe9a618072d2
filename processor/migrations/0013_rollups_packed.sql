-- Histograms and sketches as one row per key (docs/analytics.md#how-it-is-computed), in
-- place of a row per bucket and per register: a row many events add to is one upsert per
-- fold, and a fold writes about a fifth of the rows. Nothing was released with 0010's
-- forms, so they are replaced, not migrated.

DROP TABLE rollup_histograms;
DROP TABLE rollup_distinct;

-- A log-bucketed histogram: `counts[i]` values of `metric` fell in `buckets[i]` (ascending,
-- each once; a bucket carries the values' rating, `analytics::histogram::rated`). Merged
-- over any range and filter by adding per bucket.
CREATE TABLE rollup_histograms (
    project_id   BIGINT      NOT NULL,
    grain        SMALLINT    NOT NULL,
    metric       SMALLINT    NOT NULL,
    dim          SMALLINT    NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    value        TEXT        NOT NULL,
    environment  TEXT        NOT NULL,
    release      TEXT        NOT NULL,
    shard        SMALLINT    NOT NULL,
    buckets      SMALLINT[]  NOT NULL,
    counts       BIGINT[]    NOT NULL,
    PRIMARY KEY (project_id, grain, metric, dim, at, value, environment, release, shard)
);

-- A HyperLogLog sketch (1,024 registers), sparse: `ranks[i]` is register `registers[i]`'s
-- (ascending, each once; a register not listed is 0). Merged by the greatest rank per
-- register.
CREATE TABLE rollup_distinct (
    project_id   BIGINT      NOT NULL,
    grain        SMALLINT    NOT NULL,
    measure      SMALLINT    NOT NULL,
    dim          SMALLINT    NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    value        TEXT        NOT NULL,
    environment  TEXT        NOT NULL,
    release      TEXT        NOT NULL,
    shard        SMALLINT    NOT NULL,
    registers    SMALLINT[]  NOT NULL,
    ranks        SMALLINT[]  NOT NULL,
    PRIMARY KEY (project_id, grain, measure, dim, at, value, environment, release, shard)
);

-- Two histograms' sum, as (buckets, counts).
CREATE FUNCTION rollup_histogram_add(
    buckets_a SMALLINT[], counts_a BIGINT[], buckets_b SMALLINT[], counts_b BIGINT[],
    OUT buckets SMALLINT[], OUT counts BIGINT[]
) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(b ORDER BY b), array_agg(n ORDER BY b)
    FROM (SELECT b, sum(n)::int8 AS n
          FROM (SELECT * FROM unnest(buckets_a, counts_a)
                UNION ALL
                SELECT * FROM unnest(buckets_b, counts_b)) AS both_(b, n)
          GROUP BY b) AS summed
$$;

-- Two sketches' union, as (registers, ranks).
CREATE FUNCTION rollup_sketch_union(
    registers_a SMALLINT[], ranks_a SMALLINT[], registers_b SMALLINT[], ranks_b SMALLINT[],
    OUT registers SMALLINT[], OUT ranks SMALLINT[]
) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(r ORDER BY r), array_agg(k ORDER BY r)
    FROM (SELECT r, max(k) AS k
          FROM (SELECT * FROM unnest(registers_a, ranks_a)
                UNION ALL
                SELECT * FROM unnest(registers_b, ranks_b)) AS both_(r, k)
          GROUP BY r) AS greatest_
$$;
