-- The releases endpoint counts each release's new issues (first seen in it): per project and
-- release, not by scanning every issue of the project.
CREATE INDEX issues_by_first_release ON issues (project_id, first_release);
