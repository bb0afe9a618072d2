//! `POST /api/{project_id}/events`: one request, top to bottom.

use std::io::Read;
use std::time::Instant;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use futures::StreamExt;
use serde::Deserialize;
use shared::config::Project;
use shared::event::{Client, Event};
use shared::publisher::Outgoing;
use tracing::Instrument;

use crate::client::client_ip;
use crate::cors;
use crate::error::IngestError;
use crate::metrics::{ReasonLabel, RoutingKeyLabel};
use crate::payload::{self, Context};
use crate::startup::State;

/// The longest User-Agent we keep.
const MAX_USER_AGENT: usize = 512;

#[derive(Debug, Deserialize)]
pub struct KeyQuery {
    key: Option<String>,
}

pub async fn ingest(
    request: HttpRequest,
    project_id: web::Path<String>,
    query: web::Query<KeyQuery>,
    body: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    state.metrics.requests_received.inc();
    let project = state.project(&project_id);
    let origin = cors::origin(&request);
    let span = tracing::debug_span!("ingest", project_id = %project_id);
    let outcome = accept(&request, project, query.key.as_deref(), body, &state)
        .instrument(span)
        .await;
    let mut response = match outcome {
        Ok(ids) => HttpResponse::Ok().json(serde_json::json!({ "ids": ids })),
        Err(error) => {
            state
                .metrics
                .requests_rejected
                .get_or_create(&ReasonLabel {
                    reason: error.reason(),
                })
                .inc();
            match &error {
                IngestError::Unavailable(cause) => {
                    tracing::warn!(project_id = %project_id, error = %cause, "Events not accepted: broker unavailable.");
                }
                _ => tracing::debug!(project_id = %project_id, error = %error, "Request rejected."),
            }
            error.error_response()
        }
    };
    // Errors carry the CORS answer too, so the page can read what it got wrong.
    cors::allow(&mut response, project, origin);
    response
}

async fn accept(
    request: &HttpRequest,
    project: Option<&Project>,
    query_key: Option<&str>,
    body: web::Payload,
    state: &State,
) -> Result<Vec<String>, IngestError> {
    let project = project.ok_or_else(|| {
        IngestError::UnknownProject(
            request
                .match_info()
                .get("project_id")
                .unwrap_or_default()
                .to_owned(),
        )
    })?;
    authenticate(request, project, query_key)?;
    check_content_type(request)?;
    let body = read_body(request, body, state.max_body_bytes).await?;

    let received_at = Utc::now();
    let context = Context {
        project_id: project.id,
        received_at,
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
    };
    let events = payload::parse(&body, &context)?;
    publish(&events, state).await?;
    Ok(events
        .iter()
        .map(|event| event.event_id.to_string())
        .collect())
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

/// Reads at most `limit` bytes, and at most `limit` bytes again once decompressed: a small
/// gzip body must not inflate into unbounded memory.
async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, IngestError> {
    let encoding = header_str(request, header::CONTENT_ENCODING.as_str())
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e != "identity");
    if let Some(encoding) = &encoding
        && encoding != "gzip"
    {
        return Err(IngestError::UnsupportedEncoding(encoding.clone()));
    }
    let declared =
        header_str(request, header::CONTENT_LENGTH.as_str()).and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(IngestError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| IngestError::UnreadableBody(error.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(IngestError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    if encoding.is_none() {
        return Ok(body);
    }
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(body.as_slice())
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|error| IngestError::UnreadableBody(format!("invalid gzip: {error}")))?;
    if inflated.len() > limit {
        return Err(IngestError::TooLarge { limit });
    }
    Ok(inflated)
}

async fn publish(events: &[Event], state: &State) -> Result<(), IngestError> {
    let mut messages = Vec::with_capacity(events.len());
    for event in events {
        // Serialized once, here; consumers read these exact bytes.
        let body = serde_json::to_vec(event)
            .map_err(|error| IngestError::InvalidEvent(format!("cannot serialize: {error}")))?;
        messages.push(Outgoing {
            event_id: event.event_id,
            project_id: event.project_id,
            routing_key: event.routing_key(),
            received_at: event.received_at,
            body,
        });
    }
    let started = Instant::now();
    state
        .publisher
        .publish(&messages)
        .await
        .map_err(IngestError::Unavailable)?;
    state
        .metrics
        .publish_seconds
        .observe(started.elapsed().as_secs_f64());
    for event in events {
        state
            .metrics
            .events_accepted
            .get_or_create(&RoutingKeyLabel {
                routing_key: event.routing_key().as_str(),
            })
            .inc();
        tracing::debug!(event_id = %event.event_id, project_id = %event.project_id, routing_key = %event.routing_key(), "Event accepted.");
    }
    Ok(())
}

fn header_str<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}
