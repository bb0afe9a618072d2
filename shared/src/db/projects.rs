//! The `projects` and `project_keys` tables (the processor's migration 0016): the processor
//! seeds them from the configuration ([`seed`]), `frontmon-admin` writes them ([`create`],
//! [`add_key`], [`revoke_key`]) and so do the dashboard's Settings pages
//! ([`revoke_key_keeping_one`]), the collector reads them every few seconds ([`active`]).
//!
//! A row becomes a [`Project`] in one place, [`ProjectRow::into_project`], under the same rules
//! as the configuration's `[[projects]]`, so that a row written by hand that breaks them is
//! refused as it is read, naming the project, instead of reaching a request.

use std::num::{NonZeroU16, NonZeroU32};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::config::{AllowedOrigins, Project, PublicKey, check_routes};
use crate::event::ProjectId;

/// A project as stored, with the keys that are not revoked (oldest first). Also what the
/// collector's cache file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub allowed_origins: Vec<String>,
    pub rate_limit_per_minute: Option<i64>,
    pub store_ip: bool,
    pub scrub: bool,
    pub scrub_emails: bool,
    pub scrub_fields: Vec<String>,
    pub routes: Vec<String>,
    pub retention_days: Option<i32>,
    pub keys: Vec<String>,
}

/// A stored project that breaks a rule the configuration enforces.
#[derive(Debug, thiserror::Error)]
#[error("project {id} in the database: {reason}")]
pub struct InvalidProject {
    pub id: i64,
    pub reason: String,
}

impl ProjectRow {
    pub fn from_project(project: &Project) -> Self {
        Self {
            id: i64::from(project.id.get()),
            name: project.name.clone(),
            allowed_origins: project.allowed_origins.to_vec(),
            rate_limit_per_minute: project.rate_limit_per_minute.map(|n| i64::from(n.get())),
            store_ip: project.store_ip,
            scrub: project.scrub,
            scrub_emails: project.scrub_emails,
            scrub_fields: project.scrub_fields.clone(),
            routes: project.routes.clone(),
            retention_days: project.retention_days.map(|n| i32::from(n.get())),
            keys: project
                .public_keys
                .iter()
                .map(|key| key.as_str().to_owned())
                .collect(),
        }
    }

    pub fn into_project(self) -> Result<Project, InvalidProject> {
        let id = self.id;
        let invalid = |reason: String| InvalidProject { id, reason };
        let project_id = u32::try_from(id)
            .ok()
            .and_then(ProjectId::new)
            .ok_or_else(|| invalid("an id is from 1 to 4294967295".into()))?;
        let rate_limit_per_minute = match self.rate_limit_per_minute {
            None => None,
            Some(n) => Some(
                u32::try_from(n)
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| invalid(format!("rate_limit_per_minute {n}")))?,
            ),
        };
        let retention_days = match self.retention_days {
            None => None,
            Some(n) => Some(
                u16::try_from(n)
                    .ok()
                    .and_then(NonZeroU16::new)
                    .ok_or_else(|| invalid(format!("retention_days {n}")))?,
            ),
        };
        check_routes(&self.routes).map_err(invalid)?;
        Ok(Project {
            id: project_id,
            name: self.name,
            public_keys: self
                .keys
                .iter()
                .map(|key| PublicKey::parse(key))
                .collect::<Result<_, _>>()
                .map_err(invalid)?,
            allowed_origins: AllowedOrigins::parse(self.allowed_origins)
                .map_err(|reason| invalid(reason.into()))?,
            rate_limit_per_minute,
            store_ip: self.store_ip,
            scrub: self.scrub,
            scrub_emails: self.scrub_emails,
            scrub_fields: self.scrub_fields,
            routes: self.routes,
            retention_days,
        })
    }
}

/// A key as stored, revoked or not.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct KeyRow {
    pub key: String,
    pub project_id: i64,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Every project with the keys that are not revoked, by id.
pub async fn active(pool: &PgPool) -> Result<Vec<ProjectRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.name, p.allowed_origins, p.rate_limit_per_minute, p.store_ip, p.scrub, \
                p.scrub_emails, p.scrub_fields, p.routes, p.retention_days, \
                COALESCE(array_agg(k.key ORDER BY k.created_at, k.key) \
                         FILTER (WHERE k.key IS NOT NULL), '{}') AS keys \
         FROM projects p \
         LEFT JOIN project_keys k ON k.project_id = p.id AND k.revoked_at IS NULL \
         GROUP BY p.id \
         ORDER BY p.id",
    )
    .fetch_all(pool)
    .await
}

/// Every key, revoked ones included, by project and age.
pub async fn keys(pool: &PgPool) -> Result<Vec<KeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT key, project_id, label, created_at, revoked_at FROM project_keys \
         ORDER BY project_id, created_at, key",
    )
    .fetch_all(pool)
    .await
}

/// Inserts each configured project whose id is absent, with its key; a project already there
/// is left as it is, keys and all (a revoked key stays revoked). Returns how many were added.
pub async fn seed(pool: &PgPool, projects: &[Project]) -> Result<u64, sqlx::Error> {
    let mut added = 0;
    let mut tx = pool.begin().await?;
    for project in projects {
        let row = ProjectRow::from_project(project);
        let inserted = insert_project(&mut tx, &row).await?;
        if inserted {
            for key in &row.keys {
                insert_key(&mut tx, row.id, key, Some("from the configuration")).await?;
            }
            added += 1;
        }
    }
    tx.commit().await?;
    Ok(added)
}

/// What [`create`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    /// A project has that id already; nothing was written.
    IdTaken,
}

/// Inserts a new project with its keys.
pub async fn create(
    pool: &PgPool,
    project: &Project,
    label: Option<&str>,
) -> Result<Created, sqlx::Error> {
    let row = ProjectRow::from_project(project);
    let mut tx = pool.begin().await?;
    if !insert_project(&mut tx, &row).await? {
        return Ok(Created::IdTaken);
    }
    for key in &row.keys {
        insert_key(&mut tx, row.id, key, label).await?;
    }
    tx.commit().await?;
    Ok(Created::Created)
}

/// The id after the largest one stored (1 for none).
pub async fn next_id(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(max(id), 0) + 1 FROM projects")
        .fetch_one(pool)
        .await
}

/// Adds a key to a project; `false` if there is no such project.
pub async fn add_key(
    pool: &PgPool,
    project: i64,
    key: &PublicKey,
    label: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let added = sqlx::query(
        "INSERT INTO project_keys (key, project_id, label) \
         SELECT $1, id, $3 FROM projects WHERE id = $2",
    )
    .bind(key.as_str())
    .bind(project)
    .bind(label)
    .execute(pool)
    .await?;
    Ok(added.rows_affected() == 1)
}

/// What [`revoke_key`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Revoked,
    /// Revoked before: nothing changed.
    Already,
    /// The project has no such key.
    NotFound,
}

/// Revokes one of a project's keys: from the collector's next refresh on, it is refused.
pub async fn revoke_key(pool: &PgPool, project: i64, key: &str) -> Result<Revoked, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    revoke_in(&mut conn, project, key).await
}

/// Like [`revoke_key`], but `None`, and nothing changed, when `key` is the project's last
/// active one: the dashboard's button must not lock a project out of the collector by a
/// click (the admin CLI, an operator's deliberate act, may). The project's row is locked
/// for the transaction, so two revocations at once cannot both pass the check.
pub async fn revoke_key_keeping_one(
    pool: &PgPool,
    project: i64,
    key: &str,
) -> Result<Option<Revoked>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT id FROM projects WHERE id = $1 FOR UPDATE")
        .bind(project)
        .execute(&mut *tx)
        .await?;
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM project_keys \
         WHERE project_id = $1 AND key <> $2 AND revoked_at IS NULL",
    )
    .bind(project)
    .bind(key.to_ascii_lowercase())
    .fetch_one(&mut *tx)
    .await?;
    let revoked = revoke_in(&mut tx, project, key).await?;
    if revoked == Revoked::Revoked && others == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(revoked))
}

async fn revoke_in(
    conn: &mut sqlx::PgConnection,
    project: i64,
    key: &str,
) -> Result<Revoked, sqlx::Error> {
    let key = key.to_ascii_lowercase();
    let revoked = sqlx::query(
        "UPDATE project_keys SET revoked_at = now() \
         WHERE project_id = $1 AND key = $2 AND revoked_at IS NULL",
    )
    .bind(project)
    .bind(&key)
    .execute(&mut *conn)
    .await?;
    if revoked.rows_affected() == 1 {
        return Ok(Revoked::Revoked);
    }
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM project_keys WHERE project_id = $1 AND key = $2)",
    )
    .bind(project)
    .bind(&key)
    .fetch_one(&mut *conn)
    .await?;
    Ok(if exists {
        Revoked::Already
    } else {
        Revoked::NotFound
    })
}

/// `true` if the project was inserted, `false` if its id was taken.
async fn insert_project(
    tx: &mut sqlx::PgConnection,
    row: &ProjectRow,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO projects (id, name, allowed_origins, rate_limit_per_minute, store_ip, \
                               scrub, scrub_emails, scrub_fields, routes, retention_days) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(row.id)
    .bind(&row.name)
    .bind(&row.allowed_origins)
    .bind(row.rate_limit_per_minute)
    .bind(row.store_ip)
    .bind(row.scrub)
    .bind(row.scrub_emails)
    .bind(&row.scrub_fields)
    .bind(&row.routes)
    .bind(row.retention_days)
    .execute(&mut *tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A key that another project holds already is left to it.
async fn insert_key(
    tx: &mut sqlx::PgConnection,
    project: i64,
    key: &str,
    label: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO project_keys (key, project_id, label) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(project)
    .bind(label)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
