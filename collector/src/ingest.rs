//! `POST /api/{project_id}/events`: one request, top to bottom.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use serde::Deserialize;
use shared::config::Project;
use shared::event::{Client, Event, EventId};
use shared::partition;
use shared::publisher::Outgoing;
use tracing::Instrument;

use crate::body::{self, header_str};
use crate::client::client_ip;
use crate::cors;
use crate::error::IngestError;
use crate::metrics::{ProjectLabel, ReasonLabel, RoutingKeyLabel};
use crate::payload::{self, Context, Refused};
use crate::rate_limit::RetryAfter;
use crate::scrub;
use crate::state::State;

/// The longest User-Agent we keep.
const MAX_USER_AGENT: usize = 512;
/// Bodies larger than this are parsed one at a time (see `accept`). `sendBeacon` bodies are
/// at most 64 KiB.
const LARGE_BODY: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

pub async fn ingest(
    request: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    state.metrics.requests_received.inc();
    let project_id = request.match_info().get("project_id").unwrap_or_default();
    let project = state.project(project_id);
    let project = project.as_deref();
    let origin = cors::origin(&request);
    let span = tracing::debug_span!("ingest", project_id = %project_id);
    let outcome = accept(&request, project, &mut payload, &state)
        .instrument(span)
        .await;
    let mut response = match outcome {
        Ok(accepted) => answer(&accepted),
        Err(error) => rejected(&error, project_id, &state),
    };
    // Errors carry the CORS answer too, so the page can read what it got wrong.
    cors::allow(&mut response, project, origin);
    body::close_if_unread(response, payload)
}

/// Any other method on the events endpoint: 405 with `Allow`, in our JSON shape.
pub async fn wrong_method(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    let project_id = request.match_info().get("project_id").unwrap_or_default();
    let error = IngestError::MethodNotAllowed(request.method().to_string());
    body::close_if_unread(rejected(&error, project_id, &state), payload)
}

pub(crate) fn rejected(error: &IngestError, project_id: &str, state: &State) -> HttpResponse {
    state
        .metrics
        .requests_rejected
        .get_or_create(&ReasonLabel {
            reason: error.reason(),
        })
        .inc();
    match error {
        IngestError::Unavailable(cause) => {
            tracing::warn!(project_id = %project_id, error = %cause, "Events not accepted: broker unavailable.");
        }
        // Counted, not logged at WARN: under a flood, one line per request would be a flood
        // of its own.
        IngestError::Busy => {
            tracing::debug!(project_id = %project_id, "Request shed: body budget spent.")
        }
        IngestError::RateLimited { .. } => {
            tracing::debug!(project_id = %project_id, "Request refused: rate limit spent.")
        }
        _ => tracing::debug!(project_id = %project_id, error = %error, "Request rejected."),
    }
    error.error_response()
}

/// What became of a request's events: the ids of those the broker confirmed, in order, and
/// the events of a batch that were refused.
struct Accepted {
    ids: Vec<EventId>,
    refused: Vec<Refused>,
}

/// `{"ids":["…",…]}`, and `"refused":[{"index","error"}]` when some events of a batch were
/// not accepted: the SDK drops those (a retry would not mend them) and keeps no other. The
/// ids are written out directly: they are hex digits, with nothing to escape, and building a
/// `serde_json::Value` first cost an allocation per id and per node.
fn answer(accepted: &Accepted) -> HttpResponse {
    use std::fmt::Write;
    // 32 hex digits, two quotes and a comma per id.
    let mut body = String::with_capacity(12 + accepted.ids.len() * 35);
    body.push_str("{\"ids\":[");
    for (index, id) in accepted.ids.iter().enumerate() {
        if index > 0 {
            body.push(',');
        }
        // Writing into a `String` cannot fail.
        let _ = write!(body, "\"{id}\"");
    }
    body.push(']');
    if !accepted.refused.is_empty() {
        // Reasons quote the input: serde escapes them.
        body.push_str(",\"refused\":");
        body.push_str(&serde_json::to_string(&accepted.refused).unwrap_or_else(|_| "[]".into()));
    }
    body.push('}');
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

async fn accept(
    request: &HttpRequest,
    project: Option<&Project>,
    payload: &mut web::Payload,
    state: &State,
) -> Result<Accepted, IngestError> {
    let project = known(request, project)?;
    let query = shared::query::parse::<KeyQuery>(request.query_string())?;
    authenticate(request, project, query.key.as_deref())?;
    check_content_type(request)?;
    // Held until the answer: what this request buffers counts against the shared budget.
    let mut reservation = state.budget.reservation();
    let body = body::read(request, payload, state.max_body_bytes, &mut reservation).await?;

    let context = context(request, project, state);
    let (messages, refused) = {
        // One large body parsed at a time, whatever the number of workers: parsing can take
        // some 40 bytes per byte of dense JSON (`data: [0,0,0,…]`), the largest transient
        // cost of a request. Small bodies, nearly all of them, never wait.
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
        messages(&body, &context, project, state.partitioned)?
    };
    // The body and the parsed events are gone by now: only the messages wait for confirms.
    drop(body);
    if !refused.is_empty() {
        state.metrics.events_refused.inc_by(refused.len() as u64);
    }
    limit(state, project, messages.len())?;
    publish(&messages, state).await?;
    Ok(Accepted {
        ids: messages.iter().map(|message| message.event_id).collect(),
        refused,
    })
}

/// The project the path names, or 404 naming what was asked for.
pub(crate) fn known<'a>(
    request: &HttpRequest,
    project: Option<&'a Project>,
) -> Result<&'a Project, IngestError> {
    project.ok_or_else(|| {
        IngestError::UnknownProject(
            request
                .match_info()
                .get("project_id")
                .unwrap_or_default()
                .to_owned(),
        )
    })
}

/// What we know of a request beside its body; the receive time is now.
pub(crate) fn context(request: &HttpRequest, project: &Project, state: &State) -> Context {
    Context {
        project_id: project.id,
        received_at: Utc::now(),
        client: Client {
            ip: client_ip(
                request.peer_addr().map(|addr| addr.ip()),
                header_str(request, "x-forwarded-for"),
                &state.trusted_proxies,
            ),
            user_agent: header_str(request, header::USER_AGENT.as_str())
                .map(|ua| ua.chars().take(MAX_USER_AGENT).collect()),
        },
        max_batch: state.max_batch,
    }
}

/// What the collector adds to an event beside what the browser sent (ids, times, the client),
/// in bytes of JSON, give or take: with the body's share, the size of the serialized event.
const ADDED_BYTES: usize = 512;

/// The body as the messages to publish, and the events of a batch that were refused.
fn messages(
    body: &[u8],
    context: &Context,
    project: &Project,
    partitioned: bool,
) -> Result<(Vec<Outgoing>, Vec<Refused>), IngestError> {
    let mut parsed = payload::parse(body, context)?;
    scrub::events(&mut parsed.events, project);
    let capacity = serialized_size(
        body.len(),
        parsed.events.len() + parsed.refused.len(),
        context,
    );
    let messages = parsed
        .events
        .iter()
        .map(|event| outgoing(event, capacity, partitioned))
        .collect::<Result<_, _>>()?;
    Ok((messages, parsed.refused))
}

/// About how large each of `events` events from a body of `body_len` bytes is once
/// serialized: each is serialized into a buffer of that size, as growing one from empty
/// reallocated and copied it four or five times per event. Bounded, as bodies may be large
/// for other reasons (a Sentry envelope's attachments).
pub(crate) fn serialized_size(body_len: usize, events: usize, context: &Context) -> usize {
    (body_len / events.max(1)).min(LARGE_BODY)
        + ADDED_BYTES
        + context.client.user_agent.as_ref().map_or(0, String::len)
}

/// An event as the message to publish, serialized once, here; consumers read these exact
/// bytes. `partitioned`: the processor's partitions are in use, so the message carries the key
/// they are hashed on (computed only then: an error's key is its grouping).
pub(crate) fn outgoing(
    event: &Event,
    capacity: usize,
    partitioned: bool,
) -> Result<Outgoing, IngestError> {
    let mut body = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut body, event)
        .map_err(|error| IngestError::InvalidEvent(format!("cannot serialize: {error}")))?;
    Ok(Outgoing {
        event_id: event.event_id,
        project_id: event.project_id,
        routing_key: event.routing_key(),
        received_at: event.received_at,
        body,
        partition_key: partitioned.then(|| partition::key(event)),
    })
}

/// Draws `events` from the project's rate limit.
pub(crate) fn limit(state: &State, project: &Project, events: usize) -> Result<(), IngestError> {
    state
        .rate_limits
        .take(project.id, events)
        .map_err(|RetryAfter(retry_after)| {
            state
                .metrics
                .rate_limited_events
                .get_or_create(&ProjectLabel {
                    project_id: project.id.get(),
                })
                .inc_by(events as u64);
            IngestError::RateLimited { retry_after }
        })
}

fn authenticate(
    request: &HttpRequest,
    project: &Project,
    query_key: Option<&str>,
) -> Result<(), IngestError> {
    // `sendBeacon` cannot set headers, so the key may come in the query string.
    let key = query_key
        .or_else(|| header_str(request, "x-frontmon-key"))
        .ok_or(IngestError::MissingKey)?;
    if !project.accepts_key(key) {
        return Err(IngestError::WrongKey);
    }
    if let Some(origin) = cors::origin(request)
        && !project.allows_origin(origin)
    {
        return Err(IngestError::OriginNotAllowed(origin.to_owned()));
    }
    Ok(())
}

/// JSON, or `text/plain` (what `sendBeacon` with a string and preflight-free `fetch` send).
pub(crate) fn check_content_type(request: &HttpRequest) -> Result<(), IngestError> {
    let Some(content_type) = header_str(request, header::CONTENT_TYPE.as_str()) else {
        return Ok(());
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("text/plain")
    {
        Ok(())
    } else {
        Err(IngestError::UnsupportedMediaType(content_type.to_owned()))
    }
}

pub(crate) async fn publish(messages: &[Outgoing], state: &State) -> Result<(), IngestError> {
    let started = Instant::now();
    state
        .publisher
        .publish(messages)
        .await
        .map_err(IngestError::Unavailable)?;
    state
        .metrics
        .publish_seconds
        .observe(started.elapsed().as_secs_f64());
    // Counted once per run of one routing key (a batch is mostly one), not once per event:
    // each count looks the label up under a lock.
    for run in messages.chunk_by(|a, b| a.routing_key == b.routing_key) {
        state
            .metrics
            .events_accepted
            .get_or_create(&RoutingKeyLabel {
                routing_key: run[0].routing_key.as_str(),
            })
            .inc_by(run.len() as u64);
    }
    for message in messages {
        tracing::debug!(event_id = %message.event_id, project_id = %message.project_id, routing_key = %message.routing_key, "Event accepted.");
    }
    Ok(())
}
