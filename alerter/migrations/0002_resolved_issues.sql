-- `new_issue` follows the processor's `issue.created` notices now (the processor groups
-- after resolving source maps; the alerter cannot), so the alerter no longer keeps every
-- issue it has seen: only the resolved ones, for `regression` rules with
-- `newer_release_only`.
DELETE FROM seen_issues WHERE resolved_at IS NULL;
ALTER TABLE seen_issues RENAME TO resolved_issues;
ALTER TABLE resolved_issues DROP COLUMN first_seen;
ALTER TABLE resolved_issues ALTER COLUMN resolved_at SET NOT NULL;
