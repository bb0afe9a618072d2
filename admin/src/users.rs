//! `frontmon-admin users`: the dashboard's accounts, written straight to its tables in the
//! database (the `dashboard` schema, created and migrated here if the processor has not yet).

use anyhow::Context;
use dashboard::{Accounts, Role};
use shared::config::Settings;

/// Creates a user; returns its id. A member's projects must be configured ones.
pub async fn create(
    settings: &Settings,
    email: &str,
    password: &str,
    admin: bool,
    projects: &[u32],
) -> anyhow::Result<i64> {
    let mut ids = Vec::with_capacity(projects.len());
    for project in projects {
        let id = settings
            .projects
            .iter()
            .map(|p| p.id)
            .find(|id| id.get() == *project)
            .with_context(|| format!("project {project} is not configured"))?;
        ids.push(id);
    }
    if !admin && ids.is_empty() {
        anyhow::bail!("a member needs at least one --project (or make an --admin)");
    }
    let accounts = Accounts::connect(&settings.database)
        .await
        .context("opening the database")?;
    let role = if admin { Role::Admin } else { Role::Member };
    let id = accounts
        .create_user(email, password, role, &ids)
        .await
        .context("creating the user")?;
    accounts.pool().close().await;
    Ok(id)
}
