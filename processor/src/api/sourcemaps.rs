//! Source maps, uploaded by builds to resolve minified stack frames; never served back:
//!
//! - `POST /api/projects/{id}/releases/{release}/sourcemaps`: a `multipart/form-data` body
//!   with `name` (the minified file's URL or `~/path`), the file `sourcemap` and optionally
//!   the file `minified`. 201 with what was stored, 200 when it replaced an earlier upload.
//! - `POST /api/projects/{id}/sourcemaps`: the same without a release; the map must then
//!   have a debug id.
//! - `GET /api/projects/{id}/releases/{release}/sourcemaps`,
//!   `GET /api/projects/{id}/sourcemaps?debug_id=`: names, sizes and debug ids.
//! - `DELETE /api/projects/{id}/sourcemaps/{sourcemap_id}` (204),
//!   `DELETE /api/projects/{id}/releases/{release}/sourcemaps` (`{"deleted": n}`).
//!
//! Each file of an upload is at most `processor.sourcemap_max_bytes`: past that the upload
//! is refused with 413 as soon as the byte that crosses it arrives, the rest unread. A map
//! is decoded whole before it is stored ([`crate::artifacts`]): a broken one is refused with
//! 400 saying where (`mappings invalid at generated line 3, segment 7 (byte 1234 of
//! "mappings"): …`).

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures::StreamExt;
use serde::Deserialize;
use shared::event::ProjectId;
use shared::query::{NoParams, Query};
use uuid::Uuid;

use super::{ApiError, State, authorize, invalid};
use crate::artifacts::{ArtifactError, ArtifactName, MAX_NAME_BYTES, NewSourceMap};
use crate::db::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SourcemapError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("invalid multipart body: {0}")]
    Multipart(String),
    #[error("{field}: larger than {limit} bytes (processor.sourcemap_max_bytes)")]
    TooLarge { field: &'static str, limit: usize },
    #[error(transparent)]
    Invalid(#[from] ArtifactError),
    #[error("no source map {0} in this project")]
    UnknownSourcemap(String),
    /// The blocking pool did not run the check: shutting down, or the check panicked.
    #[error("the source map could not be checked")]
    Unchecked(#[source] actix_web::error::BlockingError),
}

impl From<StoreError> for SourcemapError {
    fn from(error: StoreError) -> Self {
        SourcemapError::Api(ApiError::Store(error))
    }
}

impl ResponseError for SourcemapError {
    fn status_code(&self) -> StatusCode {
        match self {
            SourcemapError::Api(error) => error.status_code(),
            SourcemapError::Multipart(_) | SourcemapError::Invalid(_) => StatusCode::BAD_REQUEST,
            SourcemapError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            SourcemapError::UnknownSourcemap(_) => StatusCode::NOT_FOUND,
            SourcemapError::Unchecked(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            SourcemapError::Api(error) => error.error_response(),
            _ => HttpResponse::build(self.status_code())
                .json(serde_json::json!({ "error": self.to_string() })),
        }
    }
}

fn multipart_error(error: MultipartError) -> SourcemapError {
    SourcemapError::Multipart(error.to_string())
}

/// The fields of an upload, as read.
#[derive(Default)]
struct Form {
    name: Option<Vec<u8>>,
    sourcemap: Option<Vec<u8>>,
    minified: Option<Vec<u8>>,
}

/// Reads the form, each field within its limit; unknown and repeated fields are refused.
async fn read_form(mut multipart: Multipart, max_file: usize) -> Result<Form, SourcemapError> {
    let mut form = Form::default();
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(multipart_error)?;
        let (slot, what, limit) = match field.name() {
            Some("name") => (&mut form.name, "name", MAX_NAME_BYTES),
            Some("sourcemap") => (&mut form.sourcemap, "sourcemap", max_file),
            Some("minified") => (&mut form.minified, "minified", max_file),
            Some(other) => {
                return Err(SourcemapError::Multipart(format!(
                    "unknown field {other:?}: the fields are name, sourcemap and minified"
                )));
            }
            None => {
                return Err(SourcemapError::Multipart("a part without a name".into()));
            }
        };
        if slot.is_some() {
            return Err(SourcemapError::Multipart(format!(
                "field {what} given twice"
            )));
        }
        let bytes = read_field(&mut field, limit).await?.ok_or(match what {
            "name" => SourcemapError::Invalid(ArtifactError::Name("at most 2048 bytes")),
            _ => SourcemapError::TooLarge { field: what, limit },
        })?;
        *slot = Some(bytes);
    }
    Ok(form)
}

/// A field's bytes; `None` as soon as they exceed `limit`, the rest left unread.
async fn read_field(field: &mut Field, limit: usize) -> Result<Option<Vec<u8>>, SourcemapError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(multipart_error)?;
        if bytes.len() + chunk.len() > limit {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

async fn store_upload(
    state: &State,
    project: ProjectId,
    release: &str,
    multipart: Multipart,
) -> Result<HttpResponse, SourcemapError> {
    let form = read_form(multipart, state.sourcemap_max_bytes).await?;
    let name = form
        .name
        .ok_or_else(|| SourcemapError::Multipart("missing field name".into()))?;
    let name = std::str::from_utf8(&name)
        .map_err(|_| ArtifactError::Name("not UTF-8"))
        .and_then(ArtifactName::parse)?;
    let map = form
        .sourcemap
        .ok_or_else(|| SourcemapError::Multipart("missing file sourcemap".into()))?;
    // Decoding a whole map takes milliseconds of CPU per megabyte: off the async workers.
    let release_owned = release.to_owned();
    let new = web::block(move || NewSourceMap::new(&release_owned, name, map, form.minified))
        .await
        .map_err(|error| {
            tracing::warn!(project_id = %project, error = %error, "Source map check did not run.");
            SourcemapError::Unchecked(error)
        })??;
    let uploaded = state.artifacts.upload(project, new).await?;
    let stored = &uploaded.sourcemap;
    tracing::info!(
        project_id = %project,
        sourcemap_id = stored.id,
        release = %stored.release,
        name = %stored.name,
        debug_id = ?stored.debug_id,
        size_bytes = stored.size_bytes,
        replaced = uploaded.replaced,
        "Source map uploaded."
    );
    let status = if uploaded.replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(HttpResponse::build(status).json(&uploaded.sourcemap))
}

pub async fn upload(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    _: Query<NoParams>,
    multipart: Multipart,
    state: web::Data<State>,
) -> Result<HttpResponse, SourcemapError> {
    let (project, release) = path.into_inner();
    let project = authorize(&request, &state, &project).await?;
    store_upload(&state, project, &release, multipart).await
}

pub async fn upload_by_debug_id(
    request: HttpRequest,
    project: web::Path<String>,
    _: Query<NoParams>,
    multipart: Multipart,
    state: web::Data<State>,
) -> Result<HttpResponse, SourcemapError> {
    let project = authorize(&request, &state, &project).await?;
    store_upload(&state, project, "", multipart).await
}

fn listing(sourcemaps: Vec<crate::artifacts::SourceMapInfo>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "sourcemaps": sourcemaps }))
}

pub async fn list(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    _: Query<NoParams>,
    state: web::Data<State>,
) -> Result<HttpResponse, SourcemapError> {
    let (project, release) = path.into_inner();
    let project = authorize(&request, &state, &project).await?;
    Ok(listing(
        state.artifacts.list_release(project, &release).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct DebugIdQuery {
    debug_id: Option<String>,
}

pub async fn list_by_debug_id(
    request: HttpRequest,
    project: web::Path<String>,
    query: Query<DebugIdQuery>,
    state: web::Data<State>,
) -> Result<HttpResponse, SourcemapError> {
    let project = authorize(&request, &state, &project).await?;
    let debug_id = query
        .debug_id
        .as_deref()
        .ok_or_else(|| invalid("debug_id", "required"))?
        .parse::<Uuid>()
        .map_err(|_| invalid("debug_id", "must be a UUID"))?;
    Ok(listing(
        state.artifacts.list_debug_id(project, debug_id).await?,
    ))
}

pub async fn delete(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    _: Query<NoParams>,
    state: web::Data<State>,
) -> Result<HttpResponse, SourcemapError> {
    let (project, sourcemap) = path.into_inner();
    let project = authorize(&request, &state, &project).await?;
    let id = sourcemap
        .parse::<i64>()
        .map_err(|_| invalid("sourcemap_id", "must be a number"))?;
    if !state.artifacts.delete(project, id).await? {
        return Err(SourcemapError::UnknownSourcemap(sourcemap));
    }
    tracing::info!(project_id = %project, sourcemap_id = id, "Source map deleted.");
    Ok(HttpResponse::NoContent().finish())
}

pub async fn delete_release(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    _: Query<NoParams>,
    state: web::Data<State>,
) -> Result<HttpResponse, SourcemapError> {
    let (project, release) = path.into_inner();
    let project = authorize(&request, &state, &project).await?;
    let deleted = state.artifacts.delete_release(project, &release).await?;
    tracing::info!(project_id = %project, release = %release, deleted, "Source maps of a release deleted.");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "deleted": deleted })))
}
