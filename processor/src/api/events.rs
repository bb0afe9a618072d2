//! `GET /api/projects/{id}/events?kind=&since=&until=&release=&environment=&limit=&before=`:
//! newest first, a page at a time; `kind` is a routing key (`error.js`) or a category
//! (`error`); `since` (inclusive) and `until` (exclusive) bound the receive time; `release`
//! and `environment` match exactly; `before` is the `next` cursor of the previous page.
//! `GET /api/projects/{id}/events/{event_id}`: one event.
//!
//! An event is returned as stored, but for its times (`timestamp`, `received_at`), written
//! as every time of the API is, and its `event_id`, as 32 hex digits.

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use shared::event::{ProjectId, RoutingKey};
use shared::query::{NoParams, Query};

use super::{
    ApiError, DEFAULT_LIMIT, MAX_LIMIT, State, authorize, event_id, invalid, optional_instant,
};
use crate::db::{Cursor, EventFilter, StoredEvent};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    kind: Option<String>,
    // Not a flattened `EventsQuery`: query strings carry only text, and serde's flatten then
    // cannot read the numbers.
    since: Option<String>,
    until: Option<String>,
    release: Option<String>,
    environment: Option<String>,
    limit: Option<i64>,
    before: Option<String>,
}

pub async fn list_events(
    request: HttpRequest,
    project: web::Path<String>,
    query: Query<ListQuery>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let project = authorize(&request, &state, &project).await?;
    let query = query.into_inner();
    let keys = query.kind.as_deref().map(routing_keys).transpose()?;
    let events = EventsQuery {
        since: query.since,
        until: query.until,
        release: query.release,
        environment: query.environment,
        limit: query.limit,
        before: query.before,
    };
    page(&state, project, keys.as_deref(), None, &events).await
}

/// What every list of events takes: the time range, release and environment, and paging.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    pub(crate) release: Option<String>,
    pub(crate) environment: Option<String>,
    pub(crate) limit: Option<i64>,
    pub(crate) before: Option<String>,
}

/// One page of events, newest first, as `{"events": [...], "next": cursor}`.
pub(crate) async fn page(
    state: &State,
    project: ProjectId,
    routing_keys: Option<&[&str]>,
    issue: Option<i64>,
    query: &EventsQuery,
) -> Result<HttpResponse, ApiError> {
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
    let since = optional_instant("since", query.since.as_deref())?;
    let until = optional_instant("until", query.until.as_deref())?;
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err(invalid("since", "must be before until"));
    }
    let filter = EventFilter {
        routing_keys,
        issue,
        since,
        until,
        release: query.release.as_deref(),
        environment: query.environment.as_deref(),
    };
    // One more than asked tells whether there is a next page.
    let mut events = state
        .store
        .list(project, &filter, before, limit + 1)
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
    if let Ok(key) = kind.parse::<RoutingKey>()
        && !key.is_notice()
    {
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
    _: Query<NoParams>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (project, event) = path.into_inner();
    let project = authorize(&request, &state, &project).await?;
    let id = event_id("event_id", &event)?;
    match state.store.get(project, id).await? {
        Some(event) => Ok(HttpResponse::Ok().json(event.into_json())),
        // Named as the API writes ids, whichever form was asked for.
        None => Err(ApiError::UnknownEvent(id.to_string())),
    }
}

impl StoredEvent {
    fn into_json(self) -> serde_json::Value {
        let mut payload = self.payload;
        if let Some(object) = payload.as_object_mut() {
            // Stored as the collector published it: the id with dashes, the times in
            // milliseconds since the epoch.
            object.insert(
                "event_id".into(),
                self.cursor.event_id.simple().to_string().into(),
            );
            for field in ["timestamp", "received_at"] {
                let time = object
                    .get(field)
                    .and_then(serde_json::Value::as_i64)
                    .and_then(chrono::DateTime::from_timestamp_millis);
                if let Some(time) = time {
                    object.insert(field.into(), shared::time::format(time).into());
                }
            }
            object.insert("routing_key".into(), self.routing_key.into());
            if let Some(issue) = self.issue_id {
                object.insert("issue_id".into(), issue.into());
            }
        }
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Cursor;

    #[test]
    fn kinds_are_routing_keys_or_categories() {
        assert_eq!(routing_keys("error.api").ok(), Some(vec!["error.api"]));
        assert_eq!(
            routing_keys("error.white_screen").ok(),
            Some(vec!["error.white_screen"])
        );
        assert_eq!(
            routing_keys("error").ok(),
            Some(vec![
                "error.js",
                "error.resource",
                "error.api",
                "error.white_screen"
            ])
        );
        assert!(routing_keys("issue.resolved").is_err(), "not an event");
        let error = routing_keys("errors").expect_err("unknown");
        assert!(
            error
                .to_string()
                .contains("behavior, custom, error, log, perf"),
            "{error}"
        );
    }

    #[test]
    fn events_are_written_with_api_times_and_a_simple_id() {
        let id = uuid::Uuid::new_v4();
        let stored = StoredEvent {
            cursor: Cursor {
                received_at: chrono::DateTime::from_timestamp_millis(1_765_102_521_123)
                    .expect("valid"),
                event_id: id,
            },
            routing_key: "error.js".into(),
            payload: serde_json::json!({
                "event_id": id.hyphenated().to_string(),
                "timestamp": 1_765_102_521_000_i64,
                "received_at": 1_765_102_521_123_i64,
                "type": "error",
            }),
            issue_id: Some(7),
        };
        assert_eq!(
            stored.into_json(),
            serde_json::json!({
                "event_id": id.simple().to_string(),
                "timestamp": "2025-12-07T10:15:21.000Z",
                "received_at": "2025-12-07T10:15:21.123Z",
                "type": "error",
                "routing_key": "error.js",
                "issue_id": 7,
            })
        );
    }
}
