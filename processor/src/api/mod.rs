//! The read API, behind `Authorization: Bearer <processor.admin_token>`: what every handler
//! shares (authorization, errors, paging limits). The handlers are in [`events`], [`issues`]
//! and [`stats`].

mod events;
mod issues;
pub mod sourcemaps;
mod stats;

pub use events::{get_event, list_events};
pub use issues::{get_issue, issue_events, list_issues, update_issue};
pub use stats::stats;

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use shared::event::ProjectId;

use crate::startup::ApiState;
use crate::store::StoreError;

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
    #[error("invalid query string: {0}")]
    InvalidQuery(String),
    #[error("invalid body: {0}")]
    InvalidBody(String),
    #[error("the database is unavailable")]
    Store(#[from] StoreError),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::UnknownProject(_) | ApiError::UnknownEvent(_) | ApiError::UnknownIssue(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::InvalidParameter { .. }
            | ApiError::InvalidQuery(_)
            | ApiError::InvalidBody(_) => StatusCode::BAD_REQUEST,
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

/// A query string that does not fit the handler's query type (`limit=abc`): answered like
/// every other client error, instead of actix's plain-text default.
pub fn query_error(error: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::InvalidQuery(error.to_string()).into()
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

/// Checks the bearer token, then that the project exists.
pub(crate) fn authorize(
    request: &HttpRequest,
    state: &ApiState,
    project: &str,
) -> Result<ProjectId, ApiError> {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthenticated)?;
    if !constant_time_eq(
        token.trim().as_bytes(),
        state.admin_token.expose().as_bytes(),
    ) {
        return Err(ApiError::Forbidden);
    }
    project
        .parse::<ProjectId>()
        .ok()
        .filter(|id| state.projects.contains(id))
        .ok_or_else(|| ApiError::UnknownProject(project.to_owned()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
