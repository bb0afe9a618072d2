//! The read API, behind `Authorization: Bearer <processor.admin_token>` (or, for reads, a
//! dashboard session whose user may see the project): what every handler
//! shares (authorization, errors, paging limits, how times and ids are read) and the route
//! table ([`routes`]). The handlers are in [`events`], [`issues`], [`stats`],
//! [`sourcemaps`], [`users`], and the analytics' [`vitals`], [`traffic`], [`errors`],
//! [`releases`], [`api_health`] and [`white_screens`] (their range and filters in [`window`]); the state they share in [`State`], which imports none of them.
//!
//! Query strings are strict (`shared::query`): a parameter an endpoint does not support is a
//! 400 naming it. Times are written as `shared::time` says (`2026-12-07T10:15:21.123Z`) and
//! read as RFC 3339 or milliseconds since the epoch; event ids are written as 32 lower-case
//! hex digits and read with or without dashes.

mod api_health;
mod buckets;
mod errors;
mod events;
mod issues;
mod pages;
mod releases;
pub mod sourcemaps;
mod state;
mod stats;
mod traffic;
mod users;
mod vitals;
mod white_screens;
mod window;

pub use pages::Pages;
pub use state::State;

use actix_web::error::JsonPayloadError;
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, Utc};
use dashboard::AccountError;
use shared::auth::{BearerError, check_bearer};
use shared::event::{EventId, ProjectId};

use crate::db::StoreError;

/// The read API's endpoints, beside their handlers; `startup` mounts them.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/projects/{project}/events",
        web::get().to(events::list_events),
    )
    .route(
        "/api/projects/{project}/events/{event_id}",
        web::get().to(events::get_event),
    )
    .route("/api/projects/{project}/stats", web::get().to(stats::stats))
    .route(
        "/api/projects/{project}/vitals",
        web::get().to(vitals::vitals),
    )
    .route(
        "/api/projects/{project}/traffic",
        web::get().to(traffic::traffic),
    )
    .route(
        "/api/projects/{project}/errors",
        web::get().to(errors::errors),
    )
    .route(
        "/api/projects/{project}/releases",
        web::get().to(releases::releases),
    )
    .route(
        "/api/projects/{project}/api-health",
        web::get().to(api_health::api_health),
    )
    .route(
        "/api/projects/{project}/white-screens",
        web::get().to(white_screens::white_screens),
    )
    .route(
        "/api/projects/{project}/issues",
        web::get().to(issues::list_issues),
    )
    .service(
        web::resource("/api/projects/{project}/issues/{issue}")
            .route(web::get().to(issues::get_issue))
            .route(web::patch().to(issues::update_issue)),
    )
    .route(
        "/api/projects/{project}/issues/{issue}/events",
        web::get().to(issues::issue_events),
    )
    .service(
        web::resource("/api/projects/{project}/releases/{release}/sourcemaps")
            .route(web::post().to(sourcemaps::upload))
            .route(web::get().to(sourcemaps::list))
            .route(web::delete().to(sourcemaps::delete_release)),
    )
    .service(
        web::resource("/api/projects/{project}/sourcemaps")
            .route(web::post().to(sourcemaps::upload_by_debug_id))
            .route(web::get().to(sourcemaps::list_by_debug_id)),
    )
    .route(
        "/api/projects/{project}/sourcemaps/{sourcemap}",
        web::delete().to(sourcemaps::delete),
    )
    .route(
        "/api/projects/{project}/users/{user}",
        web::delete().to(users::erase_user),
    );
}

pub(crate) const DEFAULT_LIMIT: i64 = 50;
pub(crate) const MAX_LIMIT: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing credentials: send Authorization: Bearer <admin token>")]
    Unauthenticated,
    #[error("wrong admin token")]
    Forbidden,
    #[error("unknown project {0}")]
    UnknownProject(String),
    #[error("no event {0} in this project")]
    UnknownEvent(String),
    #[error("no issue {0} in this project")]
    UnknownIssue(String),
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    #[error("invalid body: {0}")]
    InvalidBody(String),
    #[error("the database is unavailable")]
    Store(#[from] StoreError),
}

impl From<BearerError> for ApiError {
    fn from(error: BearerError) -> Self {
        match error {
            BearerError::Missing => ApiError::Unauthenticated,
            BearerError::Wrong => ApiError::Forbidden,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::UnknownProject(_) | ApiError::UnknownEvent(_) | ApiError::UnknownIssue(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::InvalidParameter { .. } | ApiError::InvalidBody(_) => StatusCode::BAD_REQUEST,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Store(error) = self {
            tracing::error!(error = %error, cause = ?std::error::Error::source(error), "Read API query failed.");
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthenticated) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}

/// A JSON body that does not parse is a 400 with a JSON body, like every other error.
pub fn body_error(error: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::InvalidBody(error.to_string()).into()
}

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::InvalidParameter {
        name,
        reason: reason.into(),
    }
}

/// RFC 3339 (`2026-11-25T10:00:00Z`, any offset) or milliseconds since the epoch.
pub(crate) fn instant(name: &'static str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(ms) = text.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms).ok_or_else(|| invalid(name, "out of range"));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            invalid(
                name,
                "expected RFC 3339 (2026-11-25T10:00:00Z) or milliseconds since the epoch",
            )
        })
}

/// An optional `name` instant.
pub(crate) fn optional_instant(
    name: &'static str,
    text: Option<&str>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.map(|text| instant(name, text)).transpose()
}

/// An event id as written anywhere: 32 hex digits, with or without dashes, any case.
pub(crate) fn event_id(name: &'static str, text: &str) -> Result<EventId, ApiError> {
    text.parse::<EventId>()
        .map_err(|_| invalid(name, "must be an event id: 32 hex digits, dashes optional"))
}

/// Checks the bearer token, then that the project exists. A read (`GET`) may instead carry a
/// user's personal API token (`Bearer fmt_…`) or, without an `Authorization` header, a
/// dashboard session: then the project must be one the user may see, and any other is unknown
/// to them (404, as for a project that does not exist).
pub(crate) async fn authorize(
    request: &HttpRequest,
    state: &State,
    project: &str,
) -> Result<ProjectId, ApiError> {
    let id = project
        .parse::<ProjectId>()
        .ok()
        .filter(|id| state.projects.contains(id));
    if request.method() == Method::GET {
        let from_store = |error| match error {
            AccountError::Store(error) => ApiError::Store(error),
            _ => ApiError::Unauthenticated,
        };
        let viewer = if request.headers().contains_key(header::AUTHORIZATION) {
            state
                .dashboard
                .api_viewer(request)
                .await
                .map_err(from_store)?
        } else {
            state.dashboard.viewer(request).await.map_err(from_store)?
        };
        if let Some(viewer) = viewer {
            return id
                .filter(|id| viewer.can_see(*id))
                .ok_or_else(|| ApiError::UnknownProject(project.to_owned()));
        }
    }
    check_bearer(request.headers(), &state.admin_token)?;
    id.ok_or_else(|| ApiError::UnknownProject(project.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_accept_rfc3339_and_millis() {
        assert_eq!(
            instant("since", "1750000000000").ok(),
            DateTime::from_timestamp_millis(1_750_000_000_000)
        );
        assert_eq!(
            instant("since", "2025-06-15T17:06:40+02:00").ok(),
            DateTime::from_timestamp_millis(1_750_000_000_000)
        );
        assert!(instant("since", "yesterday").is_err());
    }

    #[test]
    fn event_ids_are_read_with_or_without_dashes_in_any_case() {
        let simple = "0b5c3d0e6a7f4c1b9e2d8f6a4c3b2a19";
        let expected = event_id("event_id", simple).ok();
        assert!(expected.is_some());
        for text in [
            "0b5c3d0e-6a7f-4c1b-9e2d-8f6a4c3b2a19",
            "0B5C3D0E6A7F4C1B9E2D8F6A4C3B2A19",
            "0B5C3D0E-6A7F-4C1B-9E2D-8F6A4C3B2A19",
        ] {
            assert_eq!(event_id("event_id", text).ok(), expected, "{text}");
        }
        assert!(event_id("event_id", "0b5c3d0e").is_err());
    }
}
