//! `frontmon-admin projects` and `keys`: the projects and their public keys, written straight
//! to their tables (`projects`, `project_keys`, which the processor creates and seeds from
//! `[[projects]]` at its start). The collectors read them every `projects_refresh_ms`, so a
//! key added here works, and a key revoked here is refused, within that long, without a
//! restart.

use std::io::Write;
use std::num::{NonZeroU16, NonZeroU32};

use shared::config::{AllowedOrigins, Project, PublicKey, Settings, check_routes};
use shared::db::projects::{self, Created, KeyRow, Revoked};
use shared::event::ProjectId;
use sqlx::PgPool;

/// What went wrong, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum ProjectsError {
    #[error(
        "the database has no projects table yet: start the processor once (it creates the \
         table and adds the configuration's [[projects]] to it)"
    )]
    NoTable,
    #[error("there is no project {0}")]
    NoProject(u32),
    #[error("project {0} exists already")]
    IdTaken(u32),
    #[error("that key exists already (keys are unique over every project, revoked ones too)")]
    KeyTaken,
    #[error("project {project} has no key {key}")]
    NoKey { project: u32, key: String },
    #[error("{0}")]
    Invalid(String),
    #[error("the database refused or did not answer")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for ProjectsError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            // undefined_table, invalid_catalog_name (no such database): no processor has
            // started on this database yet.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("42P01" | "3D000")) =>
            {
                ProjectsError::NoTable
            }
            // unique_violation: only a key can collide (a project's id is checked first).
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                ProjectsError::KeyTaken
            }
            _ => ProjectsError::Database(error),
        }
    }
}

/// A project to create: what `projects create` was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewProject {
    /// None: the next free id.
    pub id: Option<u32>,
    pub name: String,
    /// Empty: any origin.
    pub allowed_origins: Vec<String>,
    pub rate_limit_per_minute: Option<NonZeroU32>,
    pub retention_days: Option<NonZeroU16>,
    pub store_ip: bool,
    pub scrub: bool,
    pub scrub_emails: bool,
    pub scrub_fields: Vec<String>,
    pub routes: Vec<String>,
}

fn open(settings: &Settings) -> Result<PgPool, ProjectsError> {
    shared::db::connect_lazy(&settings.database, 1).map_err(|error| match error {
        shared::db::DbError::Unavailable(error)
        | shared::db::DbError::Rejected(error)
        | shared::db::DbError::Conflict(error) => ProjectsError::Database(error),
    })
}

/// Creates a project with a new key; returns the project as stored.
pub async fn create(settings: &Settings, new: NewProject) -> Result<Project, ProjectsError> {
    check_routes(&new.routes).map_err(ProjectsError::Invalid)?;
    let origins = if new.allowed_origins.is_empty() {
        vec!["*".to_owned()]
    } else {
        new.allowed_origins
    };
    let pool = open(settings)?;
    let id = match new.id {
        Some(id) => id,
        None => u32::try_from(projects::next_id(&pool).await?)
            .map_err(|_| ProjectsError::Invalid("no project id is left".into()))?,
    };
    let project = Project {
        id: ProjectId::new(id).ok_or_else(|| ProjectsError::Invalid("ids start at 1".into()))?,
        name: new.name,
        public_keys: vec![PublicKey::generate()],
        allowed_origins: AllowedOrigins::parse(origins)
            .map_err(|reason| ProjectsError::Invalid(reason.into()))?,
        rate_limit_per_minute: new.rate_limit_per_minute,
        store_ip: new.store_ip,
        scrub: new.scrub,
        scrub_emails: new.scrub_emails,
        scrub_fields: new.scrub_fields,
        routes: new.routes,
        retention_days: new.retention_days,
    };
    let created = projects::create(&pool, &project, Some("created with the project")).await;
    pool.close().await;
    match created? {
        Created::Created => Ok(project),
        Created::IdTaken => Err(ProjectsError::IdTaken(id)),
    }
}

/// Adds a key to a project, `key` or (usually) a new random one; returns it.
pub async fn add_key(
    settings: &Settings,
    project: u32,
    key: Option<PublicKey>,
    label: Option<&str>,
) -> Result<PublicKey, ProjectsError> {
    let pool = open(settings)?;
    let key = key.unwrap_or_else(PublicKey::generate);
    let added = projects::add_key(&pool, i64::from(project), &key, label).await;
    pool.close().await;
    if added? {
        Ok(key)
    } else {
        Err(ProjectsError::NoProject(project))
    }
}

/// Revokes one of a project's keys; `false` if it was revoked already.
pub async fn revoke_key(
    settings: &Settings,
    project: u32,
    key: &str,
) -> Result<bool, ProjectsError> {
    let pool = open(settings)?;
    let revoked = projects::revoke_key(&pool, i64::from(project), key).await;
    pool.close().await;
    match revoked? {
        Revoked::Revoked => Ok(true),
        Revoked::Already => Ok(false),
        Revoked::NotFound => Err(ProjectsError::NoKey {
            project,
            key: key.to_owned(),
        }),
    }
}

/// Writes every project, and under each its keys (revoked ones with the time).
pub async fn list(
    settings: &Settings,
    collector: &str,
    out: &mut impl Write,
) -> Result<(), ProjectsError> {
    let pool = open(settings)?;
    let read = async {
        let projects = projects::active(&pool).await?;
        let keys = projects::keys(&pool).await?;
        Ok::<_, sqlx::Error>((projects, keys))
    }
    .await;
    pool.close().await;
    let (projects, keys) = read?;
    let io = |error: std::io::Error| ProjectsError::Invalid(format!("writing the list: {error}"));
    for project in projects {
        let limit = project
            .rate_limit_per_minute
            .map_or_else(|| "none".to_owned(), |n| format!("{n}/min"));
        let retention = project
            .retention_days
            .map_or_else(|| "default".to_owned(), |n| format!("{n} days"));
        writeln!(
            out,
            "{}  {}  origins: {}  rate limit: {limit}  retention: {retention}  scrub: {}",
            project.id,
            project.name,
            project.allowed_origins.join(" "),
            if project.scrub { "on" } else { "off" },
        )
        .map_err(io)?;
        for key in keys.iter().filter(|key| key.project_id == project.id) {
            writeln!(out, "    {}", key_line(key, collector)).map_err(io)?;
        }
    }
    Ok(())
}

fn key_line(key: &KeyRow, collector: &str) -> String {
    let label = key
        .label
        .as_deref()
        .map(|label| format!("  ({label})"))
        .unwrap_or_default();
    let created = key.created_at.format("%Y-%m-%d %H:%M:%SZ");
    match key.revoked_at {
        Some(revoked) => format!(
            "{}  created {created}  REVOKED {}{label}",
            key.key,
            revoked.format("%Y-%m-%d %H:%M:%SZ")
        ),
        None => format!(
            "{}  created {created}  dsn {}{label}",
            key.key,
            dsn(collector, &key.key, key.project_id)
        ),
    }
}

/// The DSN an SDK is given: `http://<key>@<collector host>/<project>`.
pub fn dsn(collector: &str, key: &str, project: impl std::fmt::Display) -> String {
    let collector = collector.trim_end_matches('/');
    match collector.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{key}@{rest}/{project}"),
        None => format!("http://{key}@{collector}/{project}"),
    }
}

/// The collector's address for DSNs when none is given: this machine, `collector.listen`'s
/// port.
pub fn default_collector(settings: &Settings) -> String {
    format!("http://127.0.0.1:{}", settings.collector.listen.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsns_put_the_key_before_the_host() {
        assert_eq!(
            dsn("https://in.example/", "abc", 3),
            "https://abc@in.example/3"
        );
        assert_eq!(
            dsn("in.example:8080", "abc", 3),
            "http://abc@in.example:8080/3"
        );
    }
}
