-- Errors, failed API calls and resources, and white screens in the rollups
-- (docs/analytics.md#measures): their counters and histograms use the existing tables, at the
-- hourly grain only, under new measures and dimensions (6 endpoint, 7 resource URL, 8 issue
-- and page). Sessions learn whether an unhandled error happened in them, for crash-free
-- sessions; rows written before this migration count as not crashed.
ALTER TABLE rollup_sessions ADD COLUMN crashed BOOLEAN NOT NULL DEFAULT false;
