//! Sentry SDKs' endpoints: `POST /api/{project_id}/envelope/` (what every current SDK sends)
//! and the legacy `POST /api/{project_id}/store/` (one event), with or without the trailing
//! slash and under a path prefix when the DSN has one (`http://key@host/sentry/1` posts to
//! `/sentry/api/1/envelope/`).
//!
//! A request goes through the same steps as a native one (key, origin, bounded body, typed
//! events, rate limit, publish, 200 only after the broker's confirms), with Sentry's ways of
//! saying things: the key in `?sentry_key=`, `X-Sentry-Auth`, `Authorization: Sentry …` or
//! the envelope's `dsn`; items routed by type ([`convert`]); `{"id": …}` as the answer;
//! `X-Sentry-Error` and `X-Sentry-Rate-Limits` on refusals, readable by the page.

pub mod convert;
pub mod envelope;
pub mod pages;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use shared::config::Project;
use shared::event::Event;
use tracing::Instrument;

use crate::body::{self, header_str};
use crate::cors;
use crate::error::IngestError;
use crate::ingest;
use crate::metrics::{DiscardLabel, ItemLabel};
use crate::payload::Context;
use crate::relay;
use crate::state::State;
use convert::EnvelopeFacts;

pub const ENVELOPE_PATHS: [&str; 4] = [
    "/api/{project_id}/envelope/",
    "/api/{project_id}/envelope",
    "/{prefix:.+}/api/{project_id}/envelope/",
    "/{prefix:.+}/api/{project_id}/envelope",
];
pub const STORE_PATHS: [&str; 4] = [
    "/api/{project_id}/store/",
    "/api/{project_id}/store",
    "/{prefix:.+}/api/{project_id}/store/",
    "/{prefix:.+}/api/{project_id}/store",
];

/// What SDKs need to read from our answers in a page on another origin.
const EXPOSED_HEADERS: &str = "x-sentry-error, x-sentry-rate-limits, retry-after";
/// What SDKs and proxies may send; anything else a page sends is its own business.
const ALLOWED_HEADERS: &str = "Content-Type, Content-Encoding, X-Sentry-Auth, Authorization, \
                               sentry-trace, baggage";

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Envelope,
    Store,
}

#[derive(Debug, Default, Deserialize)]
struct SentryQuery {
    sentry_key: Option<String>,
}

pub async fn envelope(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    handle(request, payload, state, Endpoint::Envelope).await
}

pub async fn store(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    handle(request, payload, state, Endpoint::Store).await
}

/// `OPTIONS`: the preflight.
pub async fn preflight(request: HttpRequest) -> HttpResponse {
    cors::any_origin_preflight(&request, ALLOWED_HEADERS, EXPOSED_HEADERS)
}

pub async fn wrong_method(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    let project_id = request.match_info().get("project_id").unwrap_or_default();
    let error = IngestError::MethodNotAllowed(request.method().to_string());
    let mut response = refused(&error, project_id, &state);
    cors::allow_any_origin(&mut response, &request, EXPOSED_HEADERS);
    body::close_if_unread(response, payload)
}

async fn handle(
    request: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<State>,
    endpoint: Endpoint,
) -> HttpResponse {
    state.metrics.requests_received.inc();
    let project_id = request.match_info().get("project_id").unwrap_or_default();
    let project = state.project(project_id);
    let project = project.as_deref();
    let span = tracing::debug_span!("sentry", project_id = %project_id);
    let outcome = accept(&request, project, &mut payload, &state, endpoint)
        .instrument(span)
        .await;
    let mut response = match outcome {
        Ok(Some(id)) => HttpResponse::Ok().json(serde_json::json!({ "id": id })),
        Ok(None) => HttpResponse::Ok().json(serde_json::json!({})),
        Err(error) => refused(&error, project_id, &state),
    };
    cors::allow_any_origin(&mut response, &request, EXPOSED_HEADERS);
    body::close_if_unread(response, payload)
}

/// The refusal, with the reason also in `X-Sentry-Error`, where SDKs look for it.
fn refused(error: &IngestError, project_id: &str, state: &State) -> HttpResponse {
    let mut response = ingest::rejected(error, project_id, state);
    let reason: String = error
        .to_string()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if let Ok(value) = HeaderValue::from_str(&reason) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-sentry-error"), value);
    }
    response
}

/// One request, top to bottom; the id to answer with.
async fn accept(
    request: &HttpRequest,
    project: Option<&Project>,
    payload: &mut web::Payload,
    state: &State,
    endpoint: Endpoint,
) -> Result<Option<String>, IngestError> {
    let project = ingest::known(request, project)?;
    // A key in the request is checked before its body is read; only an envelope without one
    // is read first, for the key in its header.
    let presented = request_key(request)?;
    if let Some(key) = &presented {
        check_key(project, key)?;
    } else if matches!(endpoint, Endpoint::Store) {
        return Err(IngestError::MissingSentryKey);
    }
    cors::check_origin(request, project)?;
    let mut reservation = state.budget.reservation();
    let body = body::read(request, payload, state.max_body_bytes, &mut reservation).await?;
    let context = ingest::context(request, project, state);
    let (events, answer_id) = match endpoint {
        Endpoint::Store => {
            let event = convert::event(&body, &EnvelopeFacts::default(), &context)
                .map_err(IngestError::InvalidEvent)?;
            let id = event.event_id.to_string();
            (vec![event], Some(id))
        }
        Endpoint::Envelope => {
            let envelope = envelope::parse(&body)
                .map_err(|error| IngestError::InvalidEnvelope(error.to_string()))?;
            if presented.is_none() {
                let key = envelope
                    .header
                    .dsn
                    .as_deref()
                    .and_then(dsn_key)
                    .ok_or(IngestError::MissingSentryKey)?;
                check_key(project, key)?;
            }
            items(&envelope, &context, state)?
        }
    };
    let body_len = body.len();
    drop(body);
    relay::publish_events(events, body_len, project, &context, state).await?;
    Ok(answer_id)
}

/// The events of an envelope's items, and the id to answer with: the envelope's, else its
/// first event's. Items we do not keep are counted and skipped, never an error, so a newer
/// SDK's items do not stop the ones we know.
fn items(
    envelope: &envelope::Envelope<'_>,
    context: &Context,
    state: &State,
) -> Result<(Vec<Event>, Option<String>), IngestError> {
    let facts = EnvelopeFacts::new(
        envelope.header.event_id.as_deref(),
        envelope.header.sent_at.as_deref(),
        context.received_at,
    );
    let mut events = Vec::with_capacity(envelope.items.len());
    for (index, item) in envelope.items.iter().enumerate() {
        let kind = item_type(&item.kind);
        let invalid = |reason: String| {
            IngestError::InvalidEvent(format!("item {index} ({}): {reason}", kind))
        };
        let outcome = match kind {
            "event" => {
                events.push(convert::event(item.payload, &facts, context).map_err(invalid)?);
                "accepted"
            }
            "transaction" => {
                events.extend(
                    convert::transaction(item.payload, &facts, context, &state.pages)
                        .map_err(invalid)?,
                );
                "accepted"
            }
            "session" => {
                events.push(convert::session(item.payload, &facts, context).map_err(invalid)?);
                "accepted"
            }
            "sessions" => {
                events.push(convert::sessions(item.payload, context).map_err(invalid)?);
                "accepted"
            }
            "span" => {
                let kept =
                    convert::spans(item.payload, &facts, context, &state.pages).map_err(invalid)?;
                let outcome = if kept.is_empty() {
                    "dropped"
                } else {
                    "accepted"
                };
                events.extend(kept);
                outcome
            }
            "client_report" => {
                count_discarded(item.payload, state);
                "counted"
            }
            _ => "dropped",
        };
        state
            .metrics
            .envelope_items
            .get_or_create(&ItemLabel {
                item_type: kind,
                outcome,
            })
            .inc();
    }
    let answer_id = envelope
        .header
        .event_id
        .clone()
        .filter(|id| id.parse::<shared::event::EventId>().is_ok())
        .or_else(|| {
            events
                .iter()
                .find(|event| !matches!(event.detail, shared::event::Detail::Session { .. }))
                .map(|event| event.event_id.to_string())
        });
    Ok((events, answer_id))
}

/// Item types as metric labels: the ones the protocol documents, `other` for the rest.
fn item_type(kind: &str) -> &'static str {
    const KNOWN: [&str; 14] = [
        "event",
        "transaction",
        "session",
        "sessions",
        "client_report",
        "attachment",
        "replay_event",
        "replay_recording",
        "profile",
        "profile_chunk",
        "feedback",
        "user_report",
        "check_in",
        "span",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == kind)
        .unwrap_or("other")
}

/// A client report: the SDK's own count of events it dropped (rate limits, queue overflow,
/// `beforeSend`), by reason and category.
fn count_discarded(payload: &[u8], state: &State) {
    #[derive(Deserialize)]
    struct Report {
        #[serde(default)]
        discarded_events: Vec<Discarded>,
    }
    #[derive(Deserialize)]
    struct Discarded {
        reason: String,
        category: String,
        quantity: u64,
    }
    const REASONS: [&str; 9] = [
        "queue_overflow",
        "cache_overflow",
        "ratelimit_backoff",
        "network_error",
        "sample_rate",
        "before_send",
        "event_processor",
        "send_error",
        "internal_sdk_error",
    ];
    const CATEGORIES: [&str; 10] = [
        "error",
        "default",
        "transaction",
        "span",
        "session",
        "attachment",
        "replay",
        "profile",
        "feedback",
        "security",
    ];
    let Ok(report) = serde_json::from_slice::<Report>(payload) else {
        return;
    };
    let known = |list: &[&'static str], value: &str| -> &'static str {
        list.iter()
            .find(|known| **known == value)
            .copied()
            .unwrap_or("other")
    };
    for discarded in report.discarded_events {
        state
            .metrics
            .sdk_discarded_events
            .get_or_create(&DiscardLabel {
                reason: known(&REASONS, &discarded.reason),
                category: known(&CATEGORIES, &discarded.category),
            })
            .inc_by(discarded.quantity);
    }
}

/// The key from the query string (`sentry_key`, what browser SDKs use) or an auth header.
///
/// Unlike the native endpoint's, this query string is not strict: SDKs send `sentry_key`,
/// `sentry_version` and `sentry_client` (and older ones `sentry_secret`, `sentry_data`), and
/// the tunnels Sentry documents forward more (`@sentry/nextjs`'s `tunnelRoute` rewrites to
/// `…/envelope/?hsts=0` and passes its own `o`, `p` and `r` along), so anything but
/// `sentry_key` is ignored, as Sentry's own ingest does.
fn request_key(request: &HttpRequest) -> Result<Option<String>, IngestError> {
    let query = web::Query::<SentryQuery>::from_query(request.query_string())
        .map_err(|error| shared::query::QueryError::Invalid(error.to_string()))?;
    if let Some(key) = query.into_inner().sentry_key {
        return Ok(Some(key));
    }
    let from_header = ["x-sentry-auth", header::AUTHORIZATION.as_str()]
        .into_iter()
        .filter_map(|name| header_str(request, name))
        .find_map(auth_header_key);
    Ok(from_header.map(str::to_owned))
}

/// `Sentry sentry_key=abc, sentry_version=7, sentry_client=…` → `abc`.
fn auth_header_key(value: &str) -> Option<&str> {
    let value = value.trim();
    let fields = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("sentry "))
        .map(|_| &value[7..])?;
    fields.split(',').find_map(|field| {
        let (name, key) = field.trim().split_once('=')?;
        (name.trim() == "sentry_key").then(|| key.trim())
    })
}

/// `https://abc@host/1` (or `https://abc:secret@host/1`) → `abc`.
fn dsn_key(dsn: &str) -> Option<&str> {
    let (_, rest) = dsn.split_once("://")?;
    let authority = rest.split('/').next()?;
    let (user_info, _) = authority.rsplit_once('@')?;
    Some(user_info.split(':').next().unwrap_or(user_info))
}

fn check_key(project: &Project, key: &str) -> Result<(), IngestError> {
    if project.accepts_key(key) {
        Ok(())
    } else {
        Err(IngestError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_auth_headers_and_dsns() {
        assert_eq!(
            auth_header_key("Sentry sentry_key=abc, sentry_version=7, sentry_client=x/1"),
            Some("abc")
        );
        assert_eq!(
            auth_header_key("sentry sentry_version=7,sentry_key=abc"),
            Some("abc")
        );
        assert_eq!(auth_header_key("Bearer abc"), None);
        assert_eq!(auth_header_key("Sentry"), None);
        assert_eq!(auth_header_key("Sentry sentry_version=7"), None);
        assert_eq!(dsn_key("https://abc@o1.ingest.example/42"), Some("abc"));
        assert_eq!(
            dsn_key("http://abc:secret@localhost:9000/sub/42"),
            Some("abc")
        );
        assert_eq!(dsn_key("http://localhost/42"), None);
        assert_eq!(dsn_key("garbage"), None);
    }

    #[test]
    fn item_types_are_a_closed_label_set() {
        assert_eq!(item_type("event"), "event");
        assert_eq!(item_type("replay_recording"), "replay_recording");
        assert_eq!(item_type("a-new-type-from-2030"), "other");
    }
}
