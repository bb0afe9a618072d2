//! `GET /api/projects/{id}/events?kind=&limit=&before=`: newest first, a page at a time;
//! `kind` is a routing key (`error.js`) or a category (`error`); `before` is the `next` cursor
//! of the previous page. `GET /api/projects/{id}/events/{event_id}`: one event.

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use shared::event::{EventId, ProjectId, RoutingKey};

use super::{ApiError, DEFAULT_LIMIT, MAX_LIMIT, authorize, invalid};
use crate::startup::ApiState;
use crate::store::{Cursor, EventFilter, StoredEvent};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    kind: Option<String>,
    // Not a flattened `PageQuery`: query strings carry only text, and serde's flatten then
    // cannot read the numbers.
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
    let filter = EventFilter {
        routing_keys: keys.as_deref(),
        issue: None,
    };
    let query = query.into_inner();
    let page_query = PageQuery {
        limit: query.limit,
        before: query.before,
    };
    page(&state, project, &filter, &page_query).await
}

/// `limit` and `before`, for every list of events.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub(crate) limit: Option<i64>,
    pub(crate) before: Option<String>,
}

/// One page of events, newest first, as `{"events": [...], "next": cursor}`.
pub(crate) async fn page(
    state: &ApiState,
    project: ProjectId,
    filter: &EventFilter<'_>,
    query: &PageQuery,
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
    // One more than asked tells whether there is a next page.
    let mut events = state.store.list(project, filter, before, limit + 1).await?;
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

impl StoredEvent {
    fn into_json(self) -> serde_json::Value {
        let mut payload = self.payload;
        if let Some(object) = payload.as_object_mut() {
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

    #[test]
    fn kinds_are_routing_keys_or_categories() {
        assert_eq!(routing_keys("error.api").ok(), Some(vec!["error.api"]));
        assert_eq!(
            routing_keys("error").ok(),
            Some(vec!["error.js", "error.resource", "error.api"])
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
}
