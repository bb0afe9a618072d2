//! `frontmon-admin erase`: erases a user's data through the processor's API
//! (`DELETE /api/projects/{id}/users/{user}`), with the connection options and errors of
//! [`crate::sourcemaps`].

use reqwest::Method;
use shared::config::Settings;

use crate::sourcemaps::{Api, Connection, SourcemapsError, send};

/// What the processor says it removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erased {
    pub events: u64,
    pub user_keys: u64,
}

/// Erases `user` (a user id or visitor id) in the connection's project.
pub async fn erase(
    settings: &Settings,
    user: &str,
    connection: &Connection,
) -> Result<Erased, SourcemapsError> {
    let api = Api::new(
        settings,
        connection.api.as_deref(),
        connection.token.as_deref(),
        connection.project.as_deref(),
    )?;
    let body = send(api.request(Method::DELETE, &["users", user])).await?;
    Ok(Erased {
        events: body["events"].as_u64().unwrap_or_default(),
        user_keys: body["user_keys"].as_u64().unwrap_or_default(),
    })
}
