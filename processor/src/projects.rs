//! The projects the processor works with: the database's (`projects`, migration 0016), which
//! the configuration's `[[projects]]` seed at start.
//!
//! Read once, at start: the read API's projects, the routes that name pages, the retention
//! per project and the dashboard's project list follow a change made with `frontmon-admin`
//! at the processor's next start. (The collector, which must refuse a revoked key at once,
//! reads them every few seconds.)

use shared::config::Projects;
use shared::db::projects;
use sqlx::PgPool;

use crate::db::StoreError;

/// Inserts the configured projects the database does not have, then reads them all back. A
/// stored project that breaks a rule of `[[projects]]` is left out, and said so.
pub async fn seed_and_read(pool: &PgPool, configured: &Projects) -> Result<Projects, StoreError> {
    let added = projects::seed(pool, configured).await?;
    if added > 0 {
        tracing::info!(
            added,
            "Projects of the configuration added to the database."
        );
    }
    let mut stored = Vec::new();
    for row in projects::active(pool).await? {
        match row.into_project() {
            Ok(project) => stored.push(project),
            Err(error) => {
                tracing::warn!(error = %error, "Project in the database left out: it breaks a rule of [[projects]].")
            }
        }
    }
    // The configuration names a key the database does not hold (edited after seeding): it
    // is not in force, and the operator should hear why.
    for configured in configured {
        if let Some(stored) = stored.iter().find(|stored| stored.id == configured.id)
            && let Some(key) = configured.newest_key()
            && !stored.accepts_key(key.as_str())
        {
            tracing::warn!(
                project = %configured.id,
                "The configuration's public_key of this project is not one of its keys in the \
                 database, which wins: it is refused. Add it with `frontmon-admin keys add <project> --key <it>`, or \
                 give the SDKs a key `frontmon-admin projects list` shows."
            );
        }
    }
    // Seeding left at least the configured ones, unless every stored one is broken.
    Ok(Projects::parse(stored).unwrap_or_else(|_| configured.clone()))
}
