//! `POST /api/{project_id}/events`: one request, top to bottom.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use serde::Deserialize;
use shared::config::Project;
use shared::event::{Client, Event};
use shared::publisher::Outgoing;
use tracing::Instrument;

use crate::body::{self, header_str};
use crate::client::client_ip;
use crate::cors;
use crate::error::IngestError;
use crate::metrics::{ProjectLabel, ReasonLabel, RoutingKeyLabel};
use crate::payload::{self, Context, Refused};
use crate::rate_limit::RetryAfter;
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
    ids: Vec<String>,
    refused: Vec<Refused>,
}

/// `{"ids": [...]}`, and `"refused": [{"index", "error"}]` when some events of a batch were
/// not accepted: the SDK drops those (a retry would not mend them) and keeps no other.
fn answer(accepted: &Accepted) -> HttpResponse {
    if accepted.refused.is_empty() {
        HttpResponse::Ok().json(serde_json::json!({ "ids": accepted.ids }))
    } else {
        HttpResponse::Ok().json(serde_json::json!({
            "ids": accepted.ids,
            "refused": accepted.refused,
        }))
    }
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
        messages(&body, &context)?
    };
    // The body and the parsed events are gone by now: only the messages wait for confirms.
    drop(body);
    if !refused.is_empty() {
        state.metrics.events_refused.inc_by(refused.len() as u64);
    }
    limit(state, project, messages.len())?;
    publish(&messages, state).await?;
    Ok(Accepted {
        ids: messages
            .iter()
            .map(|message| message.event_id.to_string())
            .collect(),
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

/// The body as the messages to publish, and the events of a batch that were refused.
fn messages(body: &[u8], context: &Context) -> Result<(Vec<Outgoing>, Vec<Refused>), IngestError> {
    let parsed = payload::parse(body, context)?;
    let messages = parsed
        .events
        .iter()
        .map(outgoing)
        .collect::<Result<_, _>>()?;
    Ok((messages, parsed.refused))
}

/// An event as the message to publish, serialized once, here; consumers read these exact
/// bytes.
pub(crate) fn outgoing(event: &Event) -> Result<Outgoing, IngestError> {
    let body = serde_json::to_vec(event)
        .map_err(|error| IngestError::InvalidEvent(format!("cannot serialize: {error}")))?;
    Ok(Outgoing {
        event_id: event.event_id,
        project_id: event.project_id,
        routing_key: event.routing_key(),
        received_at: event.received_at,
        body,
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
    if !project.public_key.matches(key) {
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
fn check_content_type(request: &HttpRequest) -> Result<(), IngestError> {
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
    for message in messages {
        state
            .metrics
            .events_accepted
            .get_or_create(&RoutingKeyLabel {
                routing_key: message.routing_key.as_str(),
            })
            .inc();
        tracing::debug!(event_id = %message.event_id, project_id = %message.project_id, routing_key = %message.routing_key, "Event accepted.");
    }
    Ok(())
}
