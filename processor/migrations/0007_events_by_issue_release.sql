-- Issues listed by release or environment (`?release=`, `?environment=`) keep those with an
-- event of it. With these, one index probe per issue listed (1 to 20 ms for a page of 50);
-- without, a scan of every event of the project (0.3 to 0.6 s at 1.2 million events).
-- Release first, with the environment, for `release` alone and both together; the second
-- for `environment` alone. Only errors have an issue, so only their rows are indexed.
CREATE INDEX events_by_issue_release ON events (issue_id, release, environment)
    WHERE issue_id IS NOT NULL;
CREATE INDEX events_by_issue_environment ON events (issue_id, environment)
    WHERE issue_id IS NOT NULL;
