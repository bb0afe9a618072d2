//! The projects the alerter's messages name: the database's (`projects`, which the processor
//! seeds from `[[projects]]` and `frontmon-admin projects create` adds to), read once at
//! start; the configuration's while that table cannot be read (a first start before the
//! processor's, or the database down: the alerter starts anyway, as before).

use std::time::Duration;

use shared::config::{Projects, Settings};
use shared::db::projects;

/// The longest the start waits for the table before it goes on with the configuration.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn read(settings: &Settings) -> Projects {
    let configured = settings.projects.clone();
    // Its own pool: the alerter's works in its own schema, the table is in the default one.
    let Ok(pool) = shared::db::connect_lazy(&settings.database, 1) else {
        return configured;
    };
    let read = tokio::time::timeout(READ_TIMEOUT, projects::active(&pool)).await;
    pool.close().await;
    let rows = match read {
        Ok(Ok(rows)) => rows,
        Ok(Err(error)) => {
            tracing::info!(error = %error, "Project names from the configuration: the projects table is not readable (yet).");
            return configured;
        }
        Err(_) => {
            tracing::info!(
                "Project names from the configuration: the projects table did not answer in time."
            );
            return configured;
        }
    };
    let mut stored: Vec<_> = rows
        .into_iter()
        .filter_map(|row| row.into_project().ok())
        .collect();
    let known: Vec<_> = stored.iter().map(|project| project.id).collect();
    stored.extend(
        configured
            .iter()
            .filter(|project| !known.contains(&project.id))
            .cloned(),
    );
    Projects::parse(stored).unwrap_or(configured)
}
