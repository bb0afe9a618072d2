//! Keeps the collector's projects in step with the database (`projects`, `project_keys`),
//! without ever making a request wait for it.
//!
//! Every `collector.projects_refresh_ms` the projects and their keys that are not revoked are
//! read; when they differ from those in force, the whole set is replaced at once
//! ([`crate::catalog`]) and the rate limits follow. While the database does not answer, the
//! last set read stays in force, and that is said once, not at every attempt.
//!
//! What the database said last is also kept in `collector.projects_cache`, when set, and read
//! at start: a collector started during an outage then knows the projects and keys made with
//! `frontmon-admin`, and refuses the keys revoked there, instead of going back to the
//! configuration's `[[projects]]`.
//!
//! The database is the source of truth once the processor has seeded it: a configured
//! project counts only while the database has no project with its id.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use shared::config::{DEMO_PUBLIC_KEY, Project};
use shared::db::projects::{self, ProjectRow};
use shared::event::ProjectId;
use sqlx::PgPool;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::metrics::OutcomeLabel;
use crate::state::State;

/// The longest a read may take before it counts as the database not answering.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Refresh {
    pub pool: PgPool,
    pub state: Arc<State>,
    /// The configuration's `[[projects]]`.
    pub configured: Vec<Project>,
    pub cache: Option<PathBuf>,
    pub every: Duration,
    /// Listening beyond loopback: the README's demo key is dropped from every project, as
    /// the configuration's is refused at start.
    pub refuse_demo_key: bool,
}

/// The projects to start with: those the cache file holds (what the database said last), and
/// the configured ones whose id it does not name. No file, or one that cannot be read: the
/// configured ones.
pub fn starting_projects(
    configured: &[Project],
    cache: Option<&Path>,
    refuse_demo_key: bool,
) -> Vec<Project> {
    let Some(path) = cache else {
        return configured.to_vec();
    };
    let rows: Vec<ProjectRow> = match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %error, "Projects cache not read: not what this collector writes; starting from the configuration.");
                return configured.to_vec();
            }
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return configured.to_vec();
        }
        Err(error) => {
            tracing::warn!(path = %path.display(), error = %error, "Projects cache not read; starting from the configuration.");
            return configured.to_vec();
        }
    };
    let (stored, invalid) = valid(rows, refuse_demo_key);
    for error in invalid {
        tracing::warn!(error = %error, "Project in the cache file skipped.");
    }
    tracing::info!(path = %path.display(), projects = stored.len(), "Projects read from the cache file.");
    with_configured(stored, configured)
}

impl Refresh {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut down = false;
        let mut cached = false;
        let mut reported = HashSet::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let read = tokio::select! {
                _ = shutdown.cancelled() => break,
                read = tokio::time::timeout(READ_TIMEOUT, projects::active(&self.pool)) => read,
            };
            let outcome = if matches!(read, Ok(Ok(_))) {
                "ok"
            } else {
                "failed"
            };
            self.state
                .metrics
                .projects_reads
                .get_or_create(&OutcomeLabel { outcome })
                .inc();
            let rows = match read {
                Ok(Ok(rows)) => rows,
                Ok(Err(error)) => {
                    if !down {
                        tracing::warn!(error = %error, projects = self.state.projects.all().len(), "Projects not read from the database; keeping those in force, and accepting their events. Said once until it answers.");
                    }
                    down = true;
                    continue;
                }
                Err(_) => {
                    if !down {
                        tracing::warn!(timeout = ?READ_TIMEOUT, "Projects not read from the database in time; keeping those in force, and accepting their events. Said once until it answers.");
                    }
                    down = true;
                    continue;
                }
            };
            if std::mem::take(&mut down) {
                tracing::info!("Projects read from the database again.");
            }
            let changed = self.apply(rows.clone(), &mut reported);
            if let Some(path) = &self.cache
                && (changed || !cached)
            {
                cached = write_cache(path, &rows);
            }
        }
        self.pool.close().await;
    }

    /// Puts the database's projects in force; `true` if that changed anything.
    fn apply(&self, rows: Vec<ProjectRow>, reported: &mut HashSet<String>) -> bool {
        let (mut stored, invalid) = valid(rows, self.refuse_demo_key);
        let mut now_invalid = HashSet::new();
        for error in invalid {
            // A row broken by hand: its project stays as it was, if it was known.
            if let Some(known) = u32::try_from(error.id)
                .ok()
                .and_then(ProjectId::new)
                .and_then(|id| self.state.projects.get(id))
            {
                stored.push((*known).clone());
            }
            let text = error.to_string();
            if !reported.contains(&text) {
                tracing::warn!(error = %text, "Project in the database not taken: it breaks a rule of [[projects]].");
            }
            now_invalid.insert(text);
        }
        *reported = now_invalid;
        let projects = with_configured(stored, &self.configured);
        let count = projects.len();
        let changed = self.state.projects.replace(projects.clone());
        if changed {
            self.state.rate_limits.update(&projects);
            tracing::info!(
                projects = count,
                "Projects changed in the database: now in force."
            );
        }
        changed
    }
}

fn valid(
    rows: Vec<ProjectRow>,
    refuse_demo_key: bool,
) -> (Vec<Project>, Vec<projects::InvalidProject>) {
    let mut stored = Vec::with_capacity(rows.len());
    let mut invalid = Vec::new();
    for row in rows {
        match row.into_project() {
            Ok(mut project) => {
                // Seeded on a laptop with the defaults, then exposed: anyone could use it.
                if refuse_demo_key {
                    project
                        .public_keys
                        .retain(|key| !key.matches(DEMO_PUBLIC_KEY));
                }
                stored.push(project);
            }
            Err(error) => invalid.push(error),
        }
    }
    (stored, invalid)
}

/// The stored projects, and the configured ones whose id is not among them (not seeded yet).
fn with_configured(mut stored: Vec<Project>, configured: &[Project]) -> Vec<Project> {
    let ids: HashSet<_> = stored.iter().map(|project| project.id).collect();
    stored.extend(
        configured
            .iter()
            .filter(|project| !ids.contains(&project.id))
            .cloned(),
    );
    stored
}

/// Writes the rows to `path` through a temporary file renamed over it, so that a crash
/// mid-write leaves the previous file whole. `false` if it could not be written.
fn write_cache(path: &Path, rows: &[ProjectRow]) -> bool {
    let written = serde_json::to_vec(rows)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            let mut temporary = path.as_os_str().to_owned();
            temporary.push(".new");
            std::fs::write(&temporary, bytes)?;
            std::fs::rename(&temporary, path)
        });
    match written {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(path = %path.display(), error = %error, "Projects cache not written; a start while the database is down will know the configured projects only.");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;

    fn project(id: u32, key: &str) -> Project {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": format!("p{id}"), "public_key": key,
        }))
        .expect("project")
    }

    #[test]
    fn the_cache_wins_over_the_configuration_and_a_bad_file_is_ignored() {
        let dir = std::env::temp_dir().join(format!("frontmon-cache-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("projects.json");
        let a = "0123456789abcdef0123456789abcdef";
        let b = "fedcba9876543210fedcba9876543210";
        let configured = vec![project(1, a), project(2, a)];
        assert_eq!(
            starting_projects(&configured, Some(&path), false),
            configured
        );

        // The database revoked project 1's key for another.
        let mut rotated = project(1, b);
        rotated.name = "renamed".into();
        assert!(write_cache(&path, &[ProjectRow::from_project(&rotated)]));
        let started = starting_projects(&configured, Some(&path), false);
        assert_eq!(started, vec![rotated, project(2, a)]);

        // Listening beyond loopback, the README's demo key is no key, wherever it is stored.
        let demo = project(3, DEMO_PUBLIC_KEY);
        assert!(write_cache(&path, &[ProjectRow::from_project(&demo)]));
        let started = starting_projects(&configured, Some(&path), true);
        assert!(started[0].public_keys.is_empty(), "{started:?}");
        let started = starting_projects(&configured, Some(&path), false);
        assert!(started[0].accepts_key(DEMO_PUBLIC_KEY), "{started:?}");

        std::fs::write(&path, b"{not json").expect("write");
        assert_eq!(
            starting_projects(&configured, Some(&path), false),
            configured
        );
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
