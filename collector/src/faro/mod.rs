//! Grafana Faro's web SDK (`@grafana/faro-web-sdk` 2.x), unchanged: `POST /collect/{project_id}`,
//! or `POST /collect` with the project found by its key, both also under a path prefix
//! (`/rum/collect/1`), the way Grafana Alloy's `faro.receiver` takes it.
//!
//! A request goes through the same steps as a native one (key, origin, bounded body, typed
//! events, rate limit, publish, the answer only after the broker's confirms), in Faro's
//! terms: the key in `x-api-key` (the SDK's `apiKey`) or `?key=`; items converted by signal
//! ([`convert`]); `202 ok` as Alloy answers. The SDK retries a batch that got 408, 425, 429
//! or 5xx with the same `Idempotency-Key`, from which the events' ids are derived, so a
//! retried batch is stored once.

mod convert;
#[cfg(test)]
mod fuzz;
mod wire;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use shared::config::Project;
use shared::event::{EventId, ProjectId};
use tracing::Instrument;
use uuid::Uuid;

use crate::body::{self, header_str};
use crate::cors;
use crate::error::IngestError;
use crate::ingest;
use crate::metrics::FaroItemLabel;
use crate::payload;
use crate::relay;
use crate::state::State;
use convert::Ids;

/// With the project in the path, and without (the project is the one whose key is sent).
pub const PATHS: [&str; 4] = [
    "/collect/{project_id}",
    "/{prefix:.+}/collect/{project_id}",
    "/collect",
    "/{prefix:.+}/collect",
];

/// What the SDK sends beside `Content-Type`: the key, the session (which Alloy reads), the
/// id of a batch that is retried with it, and `Content-Encoding` with `requestCompression`.
const ALLOWED_HEADERS: &str =
    "Content-Type, Content-Encoding, x-api-key, x-faro-session-id, Idempotency-Key";
/// The SDK waits as long as `Retry-After` says after a 429 or 503; cross-origin it can only
/// read it exposed.
const EXPOSED_HEADERS: &str = "retry-after";
/// Bodies larger than this are parsed one at a time across the workers, as native ones are.
const LARGE_BODY: usize = 64 * 1024;
/// Names the event ids derived from an `Idempotency-Key`.
const FARO_IDS: Uuid = Uuid::from_u128(0x3f6a_9c1e_52d8_4b0f_a7e3_fa20_c0de_b47c);

#[derive(Debug, Default, Deserialize)]
struct FaroQuery {
    key: Option<String>,
}

pub async fn collect(
    request: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    state.metrics.requests_received.inc();
    let path_project = request.match_info().get("project_id").map(str::to_owned);
    let span = tracing::debug_span!("faro", project_id = path_project.as_deref().unwrap_or("?"));
    let outcome = accept(&request, path_project.as_deref(), &mut payload, &state)
        .instrument(span)
        .await;
    let mut response = match outcome {
        // What Alloy answers, and what the SDK takes as "accepted".
        Ok(()) => HttpResponse::Accepted()
            .content_type("text/plain; charset=utf-8")
            .body("ok"),
        Err(error) => ingest::rejected(&error, path_project.as_deref().unwrap_or("?"), &state),
    };
    cors::allow_any_origin(&mut response, &request, EXPOSED_HEADERS);
    body::close_if_unread(response, payload)
}

/// `OPTIONS`: the preflight (the SDK always sends JSON and its own headers).
pub async fn preflight(request: HttpRequest) -> HttpResponse {
    cors::any_origin_preflight(&request, ALLOWED_HEADERS, EXPOSED_HEADERS)
}

pub async fn wrong_method(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    let project_id = request.match_info().get("project_id").unwrap_or("?");
    let error = IngestError::MethodNotAllowed(request.method().to_string());
    let mut response = ingest::rejected(&error, project_id, &state);
    cors::allow_any_origin(&mut response, &request, EXPOSED_HEADERS);
    body::close_if_unread(response, payload)
}

/// One request, top to bottom.
async fn accept(
    request: &HttpRequest,
    path_project: Option<&str>,
    payload: &mut web::Payload,
    state: &State,
) -> Result<(), IngestError> {
    // An unknown project in the path is a 404 before anything else, as on every endpoint.
    let named = match path_project {
        Some(id) => {
            let project = state.project(id);
            ingest::known(request, project.as_deref())?;
            project
        }
        None => None,
    };
    let key = request_key(request)?.ok_or(IngestError::MissingFaroKey)?;
    let project = match named {
        Some(project) if project.accepts_key(&key) => project,
        Some(_) => return Err(IngestError::WrongKey),
        None => project_by_key(state, &key)?,
    };
    let project = &*project;
    cors::check_origin(request, project)?;
    // JSON is what the SDK sends; `text/plain` is a hand-written preflight-free `fetch`.
    ingest::check_content_type(request)?;
    let mut reservation = state.budget.reservation();
    let body = body::read(request, payload, state.max_body_bytes, &mut reservation).await?;
    let context = ingest::context(request, project, state);
    let batch = {
        let _one_at_a_time = if body.len() > LARGE_BODY {
            Some(
                state
                    .large_parse
                    .acquire()
                    .await
                    .map_err(|_| IngestError::Busy)?,
            )
        } else {
            None
        };
        parse(&body)?
    };
    let body_len = body.len();
    drop(body);
    let items = batch.item_count();
    if items > state.max_batch {
        return Err(IngestError::TooManyEvents {
            count: items,
            max: state.max_batch,
        });
    }
    let ids = RequestIds::new(project.id, header_str(request, "idempotency-key"));
    let convert::Converted { events, outcomes } = convert::convert(&batch, &ids, &context);
    drop(batch);
    relay::publish_events(events, body_len, project, &context, state).await?;
    for (signal, accepted, dropped) in outcomes {
        for (outcome, count) in [("accepted", accepted), ("dropped", dropped)] {
            if count > 0 {
                state
                    .metrics
                    .faro_items
                    .get_or_create(&FaroItemLabel { signal, outcome })
                    .inc_by(count as u64);
            }
        }
    }
    Ok(())
}

/// The body as a Faro batch; a 400 naming the field that is not what the SDK sends.
fn parse(body: &[u8]) -> Result<wire::Body, IngestError> {
    // serde would also read a struct from an array of its fields; the SDK sends an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        return Err(
            match serde::de::IgnoredAny::deserialize(&mut deserializer)
                .and_then(|_| deserializer.end())
            {
                Ok(()) => IngestError::InvalidEvent(
                    "the body must be a JSON object: a Faro batch with `meta`".into(),
                ),
                Err(error) => IngestError::MalformedJson(error.to_string()),
            },
        );
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: Result<wire::Body, _> = serde_path_to_error::deserialize(&mut deserializer);
    let batch = parsed.map_err(|error| {
        let path = error.path().to_string();
        payload::json_error(path, error.into_inner())
    })?;
    deserializer
        .end()
        .map_err(|error| IngestError::MalformedJson(error.to_string()))?;
    Ok(batch)
}

/// `x-api-key` (what the SDK's `apiKey` sets) or `?key=` (for a URL that carries it).
/// Other query parameters are ignored: the SDK's URL is the site's to write.
fn request_key(request: &HttpRequest) -> Result<Option<String>, IngestError> {
    let query = web::Query::<FaroQuery>::from_query(request.query_string())
        .map_err(|error| shared::query::QueryError::Invalid(error.to_string()))?;
    Ok(header_str(request, "x-api-key")
        .map(str::to_owned)
        .or(query.into_inner().key)
        .filter(|key| !key.is_empty()))
}

/// The project whose key this is, for `/collect` without a project: keys are per project, so
/// the key says which, unless several projects were configured with the same key.
fn project_by_key(state: &State, key: &str) -> Result<Arc<Project>, IngestError> {
    let mut matching = state.projects.with_key(key, 2).into_iter();
    let project = matching.next().ok_or(IngestError::WrongKey)?;
    if matching.next().is_some() {
        return Err(IngestError::AmbiguousKey);
    }
    Ok(project)
}

/// The ids of a request's events: derived from the project, the batch's `Idempotency-Key`
/// and the item's place in the batch, so a retry of the batch (the same key, the same
/// items) gets the same ids, which the processor stores once; random without a key.
struct RequestIds {
    batch: Option<String>,
}

impl RequestIds {
    fn new(project: ProjectId, idempotency_key: Option<&str>) -> Self {
        Self {
            batch: idempotency_key
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(|key| format!("{project}|{key}")),
        }
    }
}

impl Ids for RequestIds {
    fn id(&self, signal: &str, index: usize) -> EventId {
        match &self.batch {
            Some(batch) => EventId::from_uuid(Uuid::new_v5(
                &FARO_IDS,
                format!("{batch}|{signal}|{index}").as_bytes(),
            )),
            None => EventId::new_random(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(id: u32) -> ProjectId {
        ProjectId::new(id).expect("non-zero")
    }

    #[test]
    fn ids_follow_the_idempotency_key_and_the_item() {
        let first = RequestIds::new(project(1), Some("Mn8rSvQ2aZkLp0x4Yb7c"));
        let retry = RequestIds::new(project(1), Some("Mn8rSvQ2aZkLp0x4Yb7c"));
        assert_eq!(first.id("events", 3), retry.id("events", 3));
        assert_ne!(first.id("events", 3), first.id("events", 4));
        assert_ne!(first.id("events", 0), first.id("logs", 0));
        let other_project = RequestIds::new(project(2), Some("Mn8rSvQ2aZkLp0x4Yb7c"));
        assert_ne!(first.id("events", 3), other_project.id("events", 3));
        let other_batch = RequestIds::new(project(1), Some("Qw3rTy"));
        assert_ne!(first.id("events", 3), other_batch.id("events", 3));
        for missing in [None, Some(""), Some("  ")] {
            let random = RequestIds::new(project(1), missing);
            assert_ne!(random.id("events", 0), random.id("events", 0));
        }
    }

    fn refused(body: &[u8]) -> String {
        match parse(body) {
            Ok(batch) => panic!("accepted: {batch:?}"),
            Err(error) => format!("{} {error}", error.reason()),
        }
    }

    #[test]
    fn malformed_batches_are_refused_naming_what_is_wrong() {
        assert!(refused(b"").starts_with("malformed_json"));
        assert!(refused(b"{\"meta\":").starts_with("malformed_json"));
        assert!(refused(b"{} {}").starts_with("malformed_json"));
        assert!(refused(b"[]").starts_with("invalid_event"));
        assert!(refused(b"42").starts_with("invalid_event"));
        let wrong = refused(br#"{"exceptions": 5}"#);
        assert!(wrong.contains("exceptions: invalid type"), "{wrong}");
        let wrong = refused(br#"{"exceptions": [{"type": "E", "value": 5}]}"#);
        assert!(wrong.contains("exceptions[0].value"), "{wrong}");
        let wrong = refused(br#"{"measurements": [{"type": "x", "values": {"a": "1"}}]}"#);
        assert!(wrong.contains("measurements[0].values.a"), "{wrong}");
        let wrong = refused(br#"{"events": [{"name": "x", "attributes": {"a": {"b": 1}}}]}"#);
        assert!(wrong.contains("events[0].attributes.a"), "{wrong}");
        let wrong = refused(br#"{"exceptions": [{"stacktrace": {"frames": [{"lineno": -1}]}}]}"#);
        assert!(wrong.contains("frames[0].lineno"), "{wrong}");
    }

    #[test]
    fn deep_nesting_is_an_error_or_skipped_never_a_crash() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for body in [
            format!(
                "{{\"exceptions\": [{{\"stacktrace\": {}}}]}}",
                nested(100_000)
            ),
            format!("{{\"events\": [{{\"attributes\": {}}}]}}", nested(100_000)),
            format!("{{\"meta\": {{\"app\": {}}}}}", nested(100_000)),
        ] {
            let error = refused(body.as_bytes());
            assert!(
                error.starts_with("invalid_event") || error.starts_with("malformed_json"),
                "{error}"
            );
        }
        // Where the SDK sends JSON we do not read (the browser's brands, the spans), it is
        // skipped without recursion.
        for body in [
            format!(
                "{{\"meta\": {{\"browser\": {{\"brands\": {}}}}}}}",
                nested(100_000)
            ),
            format!(
                "{{\"traces\": {{\"resourceSpans\": [{{\"scopeSpans\": [{{\"spans\": {}}}]}}]}}}}",
                nested(100_000)
            ),
        ] {
            let _ = parse(body.as_bytes());
        }
    }

    #[test]
    fn huge_arrays_are_counted_not_kept() {
        let items = wire::MAX_ITEMS * 5;
        let body = format!(
            "{{\"events\": [{}], \"traces\": {{\"resourceSpans\": [{{\"scopeSpans\": [{{\"spans\": [{}]}}]}}]}}}}",
            vec!["{}"; items].join(","),
            vec!["{\"name\": \"span\"}"; items].join(",")
        );
        let batch = parse(body.as_bytes()).expect("a valid batch");
        assert_eq!(batch.events.count, items);
        assert_eq!(batch.events.items.len(), wire::MAX_ITEMS);
        assert_eq!(batch.item_count(), items);
        assert_eq!(
            batch.traces.as_ref().map(wire::Traces::span_count),
            Some(items)
        );
    }
}
