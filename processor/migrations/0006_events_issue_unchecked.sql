-- The processor sets events.issue_id in the transaction that finds or opens the issue, and
-- issues are never deleted, so the foreign key only re-checked what is true by construction:
-- one lookup (and a row lock on the issue) per stored event, 11 % of PostgreSQL's time in a
-- drain, and a lock that made concurrent batches of one issue wait for each other. Whoever
-- adds issue deletion deletes (or unlinks) the issue's events in the same transaction.
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_issue_id_fkey;
