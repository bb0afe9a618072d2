//! Why a request was not accepted, and what the client is told.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use shared::publisher::PublishError;

/// Seconds a client should wait before retrying when the broker cannot take events.
const RETRY_AFTER_SECS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown project {0}")]
    UnknownProject(String),
    #[error("missing project key: pass ?key= or the X-Frontmon-Key header")]
    MissingKey,
    #[error("wrong project key")]
    WrongKey,
    #[error("origin {0} is not allowed to send events to this project")]
    OriginNotAllowed(String),
    #[error("unsupported Content-Type {0:?}: send application/json or text/plain")]
    UnsupportedMediaType(String),
    #[error("unsupported Content-Encoding {0:?}: send gzip or no encoding")]
    UnsupportedEncoding(String),
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("unreadable body: {0}")]
    UnreadableBody(String),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("empty batch: send at least one event")]
    EmptyBatch,
    #[error("batch of {count} events is over the limit of {max}")]
    TooManyEvents { count: usize, max: usize },
    #[error("events could not be stored; retry later")]
    Unavailable(#[source] PublishError),
}

impl IngestError {
    /// The `reason` label of the rejection counter: low cardinality, stable.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::UnknownProject(_) => "unknown_project",
            IngestError::MissingKey => "missing_key",
            IngestError::WrongKey => "wrong_key",
            IngestError::OriginNotAllowed(_) => "origin_not_allowed",
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::UnsupportedEncoding(_) => "unsupported_encoding",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::UnreadableBody(_) => "unreadable_body",
            IngestError::MalformedJson(_) => "malformed_json",
            IngestError::InvalidEvent(_) => "invalid_event",
            IngestError::EmptyBatch => "empty_batch",
            IngestError::TooManyEvents { .. } => "too_many_events",
            IngestError::Unavailable(_) => "broker_unavailable",
        }
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::UnknownProject(_) => StatusCode::NOT_FOUND,
            IngestError::MissingKey => StatusCode::UNAUTHORIZED,
            IngestError::WrongKey | IngestError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            IngestError::UnsupportedMediaType(_) | IngestError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::TooLarge { .. } | IngestError::TooManyEvents { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            IngestError::UnreadableBody(_)
            | IngestError::MalformedJson(_)
            | IngestError::InvalidEvent(_)
            | IngestError::EmptyBatch => StatusCode::BAD_REQUEST,
            IngestError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, IngestError::Unavailable(_)) {
            response.insert_header(("Retry-After", RETRY_AFTER_SECS.to_string()));
        }
        // 4xx bodies say what the client got wrong; the 5xx body says only "retry", the
        // cause is in our log.
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}
