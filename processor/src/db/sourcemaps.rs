//! The `sourcemaps` table: uploads stored and replaced, listed without their contents,
//! deleted, and looked up by the resolver.
//!
//! What may be stored is decided in [`crate::artifacts`]; which of the candidates a frame
//! gets, in [`crate::symbolicate`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::event::ProjectId;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// A stored source map, as listed: never its contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceMapInfo {
    pub id: i64,
    pub name: String,
    pub release: String,
    pub debug_id: Option<Uuid>,
    /// The map and the minified file together.
    pub size_bytes: i64,
    pub has_minified: bool,
    #[serde(serialize_with = "shared::time::serialize")]
    pub uploaded_at: DateTime<Utc>,
}

impl SourceMapInfo {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            release: row.try_get("release")?,
            debug_id: row.try_get("debug_id")?,
            size_bytes: row.try_get("size_bytes")?,
            has_minified: row.try_get("has_minified")?,
            uploaded_at: row.try_get("uploaded_at")?,
        })
    }
}

/// Only constant text goes into the statements below: values are bound.
const COLUMNS: &str =
    "id, name, release, debug_id, size_bytes, minified IS NOT NULL AS has_minified, uploaded_at";

/// A map to store, checked.
pub struct Upload<'a> {
    pub project: ProjectId,
    /// `""` for a map matched by its debug id only.
    pub release: &'a str,
    pub name: &'a str,
    pub debug_id: Option<Uuid>,
    pub map: &'a [u8],
    pub minified: Option<&'a [u8]>,
    pub size_bytes: i64,
}

/// Stores `upload`, replacing the one of the same project, release and name (without a
/// release: of the same debug id and name); says whether one was replaced.
pub async fn upsert(
    pool: &PgPool,
    upload: &Upload<'_>,
) -> Result<(SourceMapInfo, bool), sqlx::Error> {
    // xmax is 0 on a row this statement inserted, and set on one it updated.
    // A release's maps are one per name; maps without a release one per debug id and
    // name (migration 0005), so two builds' app.js do not replace each other.
    let conflict = if upload.release.is_empty() {
        "(project_id, debug_id, name) WHERE release = ''"
    } else {
        "(project_id, release, name) WHERE release <> ''"
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO sourcemaps (project_id, release, name, debug_id, map, minified, size_bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT {conflict} DO UPDATE
         SET debug_id = EXCLUDED.debug_id, map = EXCLUDED.map, minified = EXCLUDED.minified,
             size_bytes = EXCLUDED.size_bytes, uploaded_at = now()
         RETURNING {COLUMNS}, xmax = 0 AS inserted"
    )))
    .bind(i64::from(upload.project.get()))
    .bind(upload.release)
    .bind(upload.name)
    .bind(upload.debug_id)
    .bind(upload.map)
    .bind(upload.minified)
    .bind(upload.size_bytes)
    .fetch_one(pool)
    .await?;
    Ok((
        SourceMapInfo::from_row(&row)?,
        !row.try_get::<bool, _>("inserted")?,
    ))
}

/// The maps of a release, by name.
pub async fn list_release(
    pool: &PgPool,
    project: ProjectId,
    release: &str,
) -> Result<Vec<SourceMapInfo>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sourcemaps WHERE project_id = $1 AND release = $2
         ORDER BY name, id"
    )))
    .bind(i64::from(project.get()))
    .bind(release)
    .fetch_all(pool)
    .await?;
    rows.iter().map(SourceMapInfo::from_row).collect()
}

/// The maps with a debug id, whatever their release.
pub async fn list_debug_id(
    pool: &PgPool,
    project: ProjectId,
    debug_id: Uuid,
) -> Result<Vec<SourceMapInfo>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sourcemaps WHERE project_id = $1 AND debug_id = $2
         ORDER BY release, name, id"
    )))
    .bind(i64::from(project.get()))
    .bind(debug_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(SourceMapInfo::from_row).collect()
}

/// Deletes one map of `project`; returns how many rows went (0 or 1).
pub async fn delete(pool: &PgPool, project: ProjectId, id: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM sourcemaps WHERE project_id = $1 AND id = $2")
            .bind(i64::from(project.get()))
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// Deletes every map of a release; returns how many there were.
pub async fn delete_release(
    pool: &PgPool,
    project: ProjectId,
    release: &str,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM sourcemaps WHERE project_id = $1 AND release = $2")
            .bind(i64::from(project.get()))
            .bind(release)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// Deletes the maps past their retention: of a release whose last upload is before
/// `before`, unless it is among its project's newest `keep_releases` (by last upload); and
/// without a release, uploaded before `before`. Returns how many.
pub async fn delete_expired(
    pool: &PgPool,
    keep_releases: i64,
    before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let releases = sqlx::query(
        "WITH releases AS (
             SELECT project_id, release, max(uploaded_at) AS last_upload,
                    row_number() OVER (PARTITION BY project_id
                                       ORDER BY max(uploaded_at) DESC, release) AS newest
             FROM sourcemaps WHERE release <> '' GROUP BY project_id, release)
         DELETE FROM sourcemaps s USING releases r
         WHERE s.project_id = r.project_id AND s.release = r.release
           AND r.newest > $1 AND r.last_upload < $2",
    )
    .bind(keep_releases)
    .bind(before)
    .execute(pool)
    .await?
    .rows_affected();
    let unreleased = sqlx::query("DELETE FROM sourcemaps WHERE release = '' AND uploaded_at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(releases + unreleased)
}

/// A map that may fit a frame, without its contents.
pub struct Candidate {
    pub id: i64,
    pub release: String,
    pub name: String,
    pub debug_id: Option<Uuid>,
}

/// The maps of `project` with the debug id, or of the (non-empty) release under one of the
/// names.
pub async fn candidates(
    pool: &PgPool,
    project: i64,
    release: &str,
    names: &[String],
    debug_id: Option<Uuid>,
) -> Result<Vec<Candidate>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, release, name, debug_id FROM sourcemaps
         WHERE project_id = $1
           AND ((release = $2 AND $2 <> '' AND name = ANY($3)) OR debug_id = $4)",
    )
    .bind(project)
    .bind(release)
    .bind(names)
    .bind(debug_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                id: row.try_get("id")?,
                release: row.try_get("release")?,
                name: row.try_get("name")?,
                debug_id: row.try_get("debug_id")?,
            })
        })
        .collect()
}

/// A map's contents.
pub struct Contents {
    pub name: String,
    pub map: Vec<u8>,
    pub minified: Option<Vec<u8>>,
}

/// The contents of one map; `None` if it was deleted.
pub async fn contents(pool: &PgPool, id: i64) -> Result<Option<Contents>, sqlx::Error> {
    let row = sqlx::query("SELECT name, map, minified FROM sourcemaps WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(|row| {
        Ok(Contents {
            name: row.try_get("name")?,
            map: row.try_get("map")?,
            minified: row.try_get("minified")?,
        })
    })
    .transpose()
}

/// The projects that have maps.
pub async fn projects(pool: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT project_id FROM sourcemaps")
        .fetch_all(pool)
        .await
}
