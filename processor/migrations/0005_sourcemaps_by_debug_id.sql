-- Maps uploaded without a release (matched by debug id only) are told apart by their debug
-- id, not by name alone: build B's ~/js/app.js must not replace build A's, whose events may
-- still arrive. Maps of a release stay unique by release and name.
ALTER TABLE sourcemaps DROP CONSTRAINT sourcemaps_project_id_release_name_key;
CREATE UNIQUE INDEX sourcemaps_release_name ON sourcemaps (project_id, release, name)
    WHERE release <> '';
CREATE UNIQUE INDEX sourcemaps_debug_id_name ON sourcemaps (project_id, debug_id, name)
    WHERE release = '';
