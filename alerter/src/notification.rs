//! The JSON a webhook receives for one error event.
//!
//! ```json
//! {
//!   "text": "[shop] error.js: TypeError: x is undefined (https://shop.example/cart)",
//!   "project_id": 2,
//!   "project": "shop",
//!   "routing_key": "error.js",
//!   "message": "TypeError: x is undefined",
//!   "url": "https://shop.example/cart",
//!   "release": "1.4.2",
//!   "environment": "production",
//!   "event_id": "2f1c0d3e-8b7a-4c5d-9e6f-0a1b2c3d4e5f",
//!   "timestamp": "2023-11-14T22:13:20.123Z",
//!   "timestamp_ms": 1700000000123
//! }
//! ```
//!
//! Every key is always present; unknown values are `null` (`project` too, for an event of a
//! project no longer configured). `text` is one line for people, and what chat tools'
//! incoming webhooks display.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::event::{Detail, Event, EventId, ProjectId};

/// Longest message quoted in `text`, in characters; the full one is in `message`.
const TEXT_MESSAGE_CHARS: usize = 200;

#[derive(Debug, Serialize)]
pub struct Notification<'a> {
    pub text: String,
    pub project_id: ProjectId,
    pub project: Option<&'a str>,
    pub routing_key: &'static str,
    pub message: Option<&'a str>,
    pub url: Option<&'a str>,
    pub release: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub event_id: EventId,
    /// When it happened, by the browser's clock (RFC 3339).
    pub timestamp: DateTime<Utc>,
    /// The same, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

impl<'a> Notification<'a> {
    /// `project` is the configured name of the event's project, if it has one.
    pub fn new(event: &'a Event, project: Option<&'a str>) -> Self {
        Self {
            text: summary(event, project),
            project_id: event.project_id,
            project,
            routing_key: event.routing_key().as_str(),
            message: event.message.as_deref(),
            url: event.url.as_deref(),
            release: event.release.as_deref(),
            environment: event.environment.as_deref(),
            event_id: event.event_id,
            timestamp: event.timestamp,
            timestamp_ms: event.timestamp.timestamp_millis(),
        }
    }
}

/// `[project] routing.key: what happened (where)`.
fn summary(event: &Event, project: Option<&str>) -> String {
    let project = match project {
        Some(name) => name.to_owned(),
        None => format!("project {}", event.project_id),
    };
    let what = match (&event.message, &event.detail) {
        (Some(message), _) => truncate(message, TEXT_MESSAGE_CHARS),
        (None, Detail::ResourceError { target, .. }) => format!("cannot load {target}"),
        (None, Detail::ApiError { target, status, .. }) => match status {
            Some(status) => format!("{target} answered {status}"),
            None => format!("{target} failed"),
        },
        (None, _) => "no message".to_owned(),
    };
    let mut text = format!("[{project}] {}: {what}", event.routing_key());
    if let Some(url) = &event.url {
        text.push_str(&format!(" ({url})"));
    }
    text
}

fn truncate(text: &str, chars: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use shared::event::Client;

    use super::*;

    fn event(detail: Detail, message: Option<&str>) -> Event {
        Event {
            event_id: "2f1c0d3e-8b7a-4c5d-9e6f-0a1b2c3d4e5f"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            project_id: ProjectId::new(2).unwrap_or_else(|| panic!("zero")),
            timestamp: DateTime::from_timestamp_millis(1_700_000_000_123)
                .unwrap_or_else(|| panic!("valid")),
            received_at: DateTime::from_timestamp_millis(1_700_000_000_456)
                .unwrap_or_else(|| panic!("valid")),
            detail,
            url: Some("https://shop.example/cart".into()),
            message: message.map(Into::into),
            stack: None,
            release: Some("1.4.2".into()),
            environment: None,
            user: None,
            tags: BTreeMap::new(),
            session_id: None,
            client: Client::default(),
            level: None,
            exceptions: Vec::new(),
            fingerprint: Vec::new(),
            contexts: serde_json::Map::new(),
            sentry: serde_json::Map::new(),
            processing_errors: Vec::new(),
        }
    }

    #[test]
    fn has_every_key_in_the_documented_shape() {
        let event = event(Detail::Error {}, Some("TypeError: x is undefined"));
        let json = serde_json::to_value(Notification::new(&event, Some("shop")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            json,
            serde_json::json!({
                "text": "[shop] error.js: TypeError: x is undefined (https://shop.example/cart)",
                "project_id": 2,
                "project": "shop",
                "routing_key": "error.js",
                "message": "TypeError: x is undefined",
                "url": "https://shop.example/cart",
                "release": "1.4.2",
                "environment": null,
                "event_id": "2f1c0d3e-8b7a-4c5d-9e6f-0a1b2c3d4e5f",
                "timestamp": "2023-11-14T22:13:20.123Z",
                "timestamp_ms": 1_700_000_000_123_i64,
            })
        );
    }

    #[test]
    fn text_says_what_failed_without_a_message() {
        let resource = event(
            Detail::ResourceError {
                target: "https://cdn.example/app.js".into(),
                tag_name: None,
            },
            None,
        );
        assert_eq!(
            Notification::new(&resource, None).text,
            "[project 2] error.resource: cannot load https://cdn.example/app.js \
             (https://shop.example/cart)"
        );
        let api = event(
            Detail::ApiError {
                target: "/api/cart".into(),
                method: Some("POST".into()),
                status: Some(502),
                duration_ms: None,
            },
            None,
        );
        assert!(
            Notification::new(&api, Some("shop"))
                .text
                .starts_with("[shop] error.api: /api/cart answered 502")
        );
    }

    #[test]
    fn text_quotes_one_line_of_a_long_message() {
        let long = format!("{}\nsecond line", "é".repeat(500));
        let event = event(Detail::Error {}, Some(&long));
        let text = Notification::new(&event, Some("shop")).text;
        assert!(text.contains(&format!("{}…", "é".repeat(TEXT_MESSAGE_CHARS))));
        assert!(!text.contains("second line"));
    }
}
