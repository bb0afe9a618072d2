//! The read API, behind `Authorization: Bearer <processor.admin_token>`.
//!
//! - `GET /api/projects/{id}/events?kind=&limit=&before=`: newest first, a page at a time;
//!   `kind` is a routing key (`error.js`) or a category (`error`); `before` is the `next`
//!   cursor of the previous page.
//! - `GET /api/projects/{id}/events/{event_id}`
//! - `GET /api/projects/{id}/stats?since=&until=&interval=`: counts per routing key per bucket.

use std::collections::{BTreeMap, HashSet};

use actix_web::error::QueryPayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use shared::event::{EventId, ProjectId, RoutingKey};

use crate::startup::ApiState;
use crate::store::{Cursor, StoreError, StoredEvent};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;
const MAX_BUCKETS: i64 = 2000;

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
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    #[error("invalid query string: {0}")]
    InvalidQuery(String),
    #[error("the database is unavailable")]
    Store(#[from] StoreError),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::UnknownProject(_) | ApiError::UnknownEvent(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidParameter { .. } | ApiError::InvalidQuery(_) => {
                StatusCode::BAD_REQUEST
            }
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

fn invalid(name: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::InvalidParameter {
        name,
        reason: reason.into(),
    }
}

/// Checks the bearer token, then that the project exists.
fn authorize(
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

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    kind: Option<String>,
    limit: Option<i64>,
    before: Option<String>,
}

pub async fn list_events(
    request: HttpRequest,
    project: web::Path<String>,
    query: web::Query<ListQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let project = authorize(&request, &state, &project)?;
    let keys = query.kind.as_deref().map(routing_keys).transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let before = query
        .before
        .as_deref()
        .map(|cursor| {
            Cursor::decode(cursor)
                .ok_or_else(|| invalid("before", "not a cursor from a previous page"))
        })
        .transpose()?;
    // One more than asked tells whether there is a next page.
    let mut events = state
        .store
        .list(project, keys.as_deref(), before, limit + 1)
        .await?;
    let next = if events.len() as i64 > limit {
        events.truncate(limit as usize);
        events.last().map(|event| event.cursor.encode())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "events": events.into_iter().map(StoredEvent::into_json).collect::<Vec<_>>(),
        "next": next,
    })))
}

/// A routing key, or a category standing for all of its routing keys.
fn routing_keys(kind: &str) -> Result<Vec<&'static str>, ApiError> {
    if let Ok(key) = kind.parse::<RoutingKey>() {
        return Ok(vec![key.as_str()]);
    }
    let keys: Vec<_> = RoutingKey::ALL
        .into_iter()
        .filter(|key| key.category() == kind)
        .map(RoutingKey::as_str)
        .collect();
    if keys.is_empty() {
        let categories: HashSet<_> = RoutingKey::ALL
            .into_iter()
            .map(RoutingKey::category)
            .collect();
        let mut categories: Vec<_> = categories.into_iter().collect();
        categories.sort_unstable();
        return Err(invalid(
            "kind",
            format!(
                "{kind:?} is neither a routing key (like error.js) nor a category ({})",
                categories.join(", ")
            ),
        ));
    }
    Ok(keys)
}

pub async fn get_event(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (project, event) = path.into_inner();
    let project = authorize(&request, &state, &project)?;
    let event_id = event
        .parse::<EventId>()
        .map_err(|_| invalid("event_id", "must be a UUID"))?;
    match state.store.get(project, event_id).await? {
        Some(event) => Ok(HttpResponse::Ok().json(event.into_json())),
        None => Err(ApiError::UnknownEvent(event)),
    }
}

#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    since: Option<String>,
    until: Option<String>,
    interval: Option<String>,
}

pub async fn stats(
    request: HttpRequest,
    project: web::Path<String>,
    query: web::Query<StatsQuery>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let project = authorize(&request, &state, &project)?;
    let now = Utc::now();
    let until = query
        .until
        .as_deref()
        .map(|t| instant("until", t))
        .transpose()?
        .unwrap_or(now);
    let since = query
        .since
        .as_deref()
        .map(|t| instant("since", t))
        .transpose()?
        .unwrap_or(until - Duration::hours(24));
    let interval = query
        .interval
        .as_deref()
        .map(interval_secs)
        .transpose()?
        .unwrap_or(3600);
    if since >= until {
        return Err(invalid("since", "must be before until"));
    }
    let span = (until - since).num_seconds();
    if span / interval > MAX_BUCKETS {
        return Err(invalid(
            "interval",
            format!("too small for this range: more than {MAX_BUCKETS} buckets"),
        ));
    }

    let counts = state.store.counts(project, since, until, interval).await?;
    let mut buckets: BTreeMap<DateTime<Utc>, BTreeMap<String, i64>> = BTreeMap::new();
    // Every bucket of the range, empty ones too, so a chart needs no gap filling.
    let mut start = since;
    while start < until {
        buckets.insert(start, BTreeMap::new());
        start += Duration::seconds(interval);
    }
    for (bucket, key, count) in counts {
        buckets.entry(bucket).or_default().insert(key, count);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "since": since.to_rfc3339(),
        "until": until.to_rfc3339(),
        "interval_secs": interval,
        "buckets": buckets.into_iter().map(|(start, counts)| serde_json::json!({
            "start": start.to_rfc3339(),
            "counts": counts,
        })).collect::<Vec<_>>(),
    })))
}

/// RFC 3339 (`2026-11-25T10:00:00Z`) or milliseconds since the epoch.
fn instant(name: &'static str, text: &str) -> Result<DateTime<Utc>, ApiError> {
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

/// `300`, `30s`, `5m`, `1h` or `1d`.
fn interval_secs(text: &str) -> Result<i64, ApiError> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(invalid(
                "interval",
                "expected seconds or a number with s, m, h or d",
            ));
        }
    };
    match number.parse::<i64>() {
        Ok(n) if n > 0 && n <= 366 * 86_400 / multiplier => Ok(n * multiplier),
        _ => Err(invalid(
            "interval",
            "must be a positive duration of at most a year",
        )),
    }
}

impl StoredEvent {
    fn into_json(self) -> serde_json::Value {
        let mut payload = self.payload;
        if let Some(object) = payload.as_object_mut() {
            object.insert("routing_key".into(), self.routing_key.into());
        }
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_with_units() {
        assert_eq!(interval_secs("300").ok(), Some(300));
        assert_eq!(interval_secs("5m").ok(), Some(300));
        assert_eq!(interval_secs("2h").ok(), Some(7200));
        assert_eq!(interval_secs("1d").ok(), Some(86_400));
        assert!(interval_secs("0").is_err());
        assert!(interval_secs("5w").is_err());
        assert!(interval_secs("-5").is_err());
        assert!(interval_secs("999999999999d").is_err());
    }

    #[test]
    fn kinds_are_routing_keys_or_categories() {
        assert_eq!(routing_keys("error.api").ok(), Some(vec!["error.api"]));
        assert_eq!(
            routing_keys("error").ok(),
            Some(vec!["error.js", "error.resource", "error.api"])
        );
        let error = routing_keys("errors").expect_err("unknown");
        assert!(
            error.to_string().contains("behavior, custom, error, perf"),
            "{error}"
        );
    }

    #[test]
    fn instants_accept_rfc3339_and_millis() {
        assert_eq!(
            instant("since", "1750000000000").ok(),
            DateTime::from_timestamp_millis(1_750_000_000_000)
        );
        assert!(instant("since", "2026-11-25T10:00:00Z").is_ok());
        assert!(instant("since", "yesterday").is_err());
    }
}
