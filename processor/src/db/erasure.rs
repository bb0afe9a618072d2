//! Erasing a user: every event of a user id or visitor id in one project, and the keys that
//! counted them among an issue's affected users, in one transaction.

use shared::event::ProjectId;
use sqlx::types::Json;
use sqlx::{PgPool, Row};

use shared::event::User;

/// What an erasure removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    pub events: u64,
    pub user_keys: u64,
}

/// Deletes `project`'s events whose `user.id` or `visitor_id` is `user`, then the issue user
/// keys those events were counted under (`user_key` says how an event's key is made from its
/// user and client address); returns how many rows of each went. Issues' counts are left as
/// they are: they are totals, and hold no personal data.
pub async fn erase_user(
    pool: &PgPool,
    project: ProjectId,
    user: &str,
    user_key: impl Fn(Option<&User>, Option<&str>) -> Option<String>,
) -> Result<Erased, sqlx::Error> {
    let project = i64::from(project.get());
    let mut tx = pool.begin().await?;
    // A scan of the project's events, without an index: erasures are rare, and indexes on
    // the user and visitor ids would slow every insert (docs/privacy.md has the figures).
    // The same statement on a table partitioned by time.
    let rows = sqlx::query(
        "DELETE FROM events
         WHERE project_id = $1
           AND ((payload -> 'user' ->> 'id') = $2 OR (payload ->> 'visitor_id') = $2)
         RETURNING payload -> 'user' AS user, payload -> 'client' ->> 'ip' AS ip",
    )
    .bind(project)
    .bind(user)
    .fetch_all(&mut *tx)
    .await?;
    let mut keys = Vec::with_capacity(rows.len() + 1);
    for row in &rows {
        let stored: Option<Json<User>> = row.try_get("user").ok().flatten();
        let ip: Option<String> = row.try_get("ip")?;
        keys.extend(user_key(stored.as_ref().map(|user| &user.0), ip.as_deref()));
    }
    // The key of the id itself, in case its events were erased before but not its keys.
    keys.extend(user_key(
        Some(&User {
            id: Some(user.to_owned()),
            ..User::default()
        }),
        None,
    ));
    keys.sort_unstable();
    keys.dedup();
    let user_keys = sqlx::query(
        "DELETE FROM issue_users
         WHERE user_key = ANY($2)
           AND issue_id IN (SELECT id FROM issues WHERE project_id = $1)",
    )
    .bind(project)
    .bind(&keys)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Erased {
        events: rows.len() as u64,
        user_keys,
    })
}
