//! Why a request was not accepted, and what the client is told.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use shared::publisher::PublishError;

/// Seconds a client should wait before retrying when the broker cannot take events.
const RETRY_AFTER_SECS: u32 = 5;
/// The longest error text we answer: errors may quote the input (a string of the wrong type,
/// an unknown `type`), which must not be echoed back by the megabyte.
const MAX_ERROR_TEXT: usize = 1024;
/// The methods of the events endpoint, for `Allow`.
pub const EVENTS_METHODS: &str = "POST, OPTIONS";

/// An event of a batch that was not accepted: its index in the batch, and why
/// (`[3].value: must be a non-negative number`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub index: usize,
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown project {0}")]
    UnknownProject(String),
    #[error("method {0} not allowed: send events with POST")]
    MethodNotAllowed(String),
    /// An unknown parameter (native endpoint), or a value that does not parse.
    #[error(transparent)]
    InvalidQuery(#[from] shared::query::QueryError),
    #[error("missing project key: pass ?key= or the X-Frontmon-Key header")]
    MissingKey,
    #[error(
        "missing project key: pass ?sentry_key=, the X-Sentry-Auth header, or the envelope's dsn"
    )]
    MissingSentryKey,
    #[error("missing project key: pass the x-api-key header (the Faro SDK's apiKey) or ?key=")]
    MissingFaroKey,
    #[error("wrong project key")]
    WrongKey,
    #[error("this key belongs to several projects: post to /collect/{{project_id}} to say which")]
    AmbiguousKey,
    #[error("origin {0} is not allowed to send events to this project")]
    OriginNotAllowed(String),
    #[error("unsupported Content-Type {0:?}: send application/json or text/plain")]
    UnsupportedMediaType(String),
    #[error("unsupported Content-Encoding {0:?}: send gzip, deflate, br or no encoding")]
    UnsupportedEncoding(String),
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("unreadable body: {0}")]
    UnreadableBody(String),
    #[error("body not received within {secs} s")]
    BodyTimeout { secs: u64 },
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// Every event of a batch was invalid; each is named in the answer's `refused`.
    #[error("invalid events: {}", every_reason(.0))]
    EveryEventRefused(Vec<Refused>),
    #[error("empty batch: send at least one event")]
    EmptyBatch,
    #[error("batch of {count} events is over the limit of {max}")]
    TooManyEvents { count: usize, max: usize },
    #[error("events could not be stored; retry later")]
    Unavailable(#[source] PublishError),
    #[error("too many requests in flight; retry later")]
    Busy,
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(String),
    #[error("the project's rate limit is spent; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
}

impl IngestError {
    /// The `reason` label of the rejection counter: low cardinality, stable.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::UnknownProject(_) => "unknown_project",
            IngestError::MethodNotAllowed(_) => "method_not_allowed",
            IngestError::InvalidQuery(_) => "invalid_query",
            IngestError::MissingKey
            | IngestError::MissingSentryKey
            | IngestError::MissingFaroKey => "missing_key",
            IngestError::WrongKey => "wrong_key",
            IngestError::AmbiguousKey => "ambiguous_key",
            IngestError::OriginNotAllowed(_) => "origin_not_allowed",
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::UnsupportedEncoding(_) => "unsupported_encoding",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::UnreadableBody(_) => "unreadable_body",
            IngestError::BodyTimeout { .. } => "body_timeout",
            IngestError::MalformedJson(_) => "malformed_json",
            IngestError::InvalidEvent(_) | IngestError::EveryEventRefused(_) => "invalid_event",
            IngestError::EmptyBatch => "empty_batch",
            IngestError::TooManyEvents { .. } => "too_many_events",
            IngestError::Unavailable(_) => "broker_unavailable",
            IngestError::Busy => "busy",
            IngestError::InvalidEnvelope(_) => "invalid_envelope",
            IngestError::RateLimited { .. } => "rate_limited",
        }
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::UnknownProject(_) => StatusCode::NOT_FOUND,
            IngestError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            IngestError::MissingKey
            | IngestError::MissingSentryKey
            | IngestError::MissingFaroKey => StatusCode::UNAUTHORIZED,
            IngestError::WrongKey | IngestError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            IngestError::UnsupportedMediaType(_) | IngestError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::TooLarge { .. } | IngestError::TooManyEvents { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            IngestError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            IngestError::InvalidQuery(_)
            | IngestError::UnreadableBody(_)
            | IngestError::MalformedJson(_)
            | IngestError::InvalidEvent(_)
            | IngestError::EveryEventRefused(_)
            | IngestError::InvalidEnvelope(_)
            | IngestError::AmbiguousKey
            | IngestError::EmptyBatch => StatusCode::BAD_REQUEST,
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Unavailable(_) | IngestError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            IngestError::Unavailable(_) | IngestError::Busy => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
            }
            IngestError::MethodNotAllowed(_) => {
                response.insert_header((header::ALLOW, EVENTS_METHODS));
            }
            IngestError::RateLimited { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
                // Sentry SDKs back off by this header: `retry_after:categories:scope`, no
                // categories meaning all of them.
                response.insert_header(("X-Sentry-Rate-Limits", format!("{retry_after}::project")));
            }
            _ => {}
        }
        // 4xx bodies say what the client got wrong; the 5xx body says only "retry", the
        // cause is in our log.
        let mut text = self.to_string();
        if text.len() > MAX_ERROR_TEXT {
            let mut cut = MAX_ERROR_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        match self {
            IngestError::EveryEventRefused(refused) => {
                response.json(serde_json::json!({ "error": text, "refused": refused }))
            }
            _ => response.json(serde_json::json!({ "error": text })),
        }
    }
}

/// The reasons of a refused batch, in one line: the whole list is in `refused`, so the
/// error text may be cut.
fn every_reason(refused: &[Refused]) -> String {
    let reasons: Vec<&str> = refused.iter().map(|r| r.error.as_str()).collect();
    reasons.join("; ")
}
