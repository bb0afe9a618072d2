//! The native wire format, parsed once into typed events.
//!
//! A body is one JSON event or a JSON array of them. Each is checked here, and only here:
//! unknown `type`s and invalid fields are rejected naming the field (`[3].value: …`), text
//! fields are truncated to bounded sizes, missing ids and timestamps are filled in. Fields we
//! do not know are ignored, so newer SDKs keep working against an older collector.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use shared::event::{Client, Detail, Event, EventId, ProjectId, Rating, User, VitalName};

use crate::error::IngestError;

/// Upper bounds on text fields, in bytes; longer values are cut at a character boundary.
const MAX_MESSAGE: usize = 8 * 1024;
const MAX_STACK: usize = 64 * 1024;
const MAX_URL: usize = 2048;
const MAX_SHORT: usize = 256;
const MAX_TAGS: usize = 64;
const MAX_TAG_KEY: usize = 64;
/// How far ahead of our clock a browser's timestamp may be before we call it clock skew.
const MAX_CLOCK_AHEAD_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EventType {
    Error,
    ResourceError,
    ApiError,
    Vital,
    Pageview,
    Click,
    Custom,
}

#[derive(Debug, Deserialize)]
struct WireEvent {
    #[serde(rename = "type")]
    kind: EventType,
    event_id: Option<String>,
    timestamp: Option<f64>,
    url: Option<String>,
    message: Option<String>,
    stack: Option<String>,
    release: Option<String>,
    environment: Option<String>,
    user: Option<WireUser>,
    tags: Option<BTreeMap<String, String>>,
    session_id: Option<String>,
    // Type-specific fields.
    name: Option<String>,
    value: Option<f64>,
    rating: Option<Rating>,
    target: Option<String>,
    tag_name: Option<String>,
    method: Option<String>,
    status: Option<u16>,
    duration_ms: Option<f64>,
    referrer: Option<String>,
    title: Option<String>,
    selector: Option<String>,
    text: Option<String>,
    data: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct WireUser {
    id: Option<UserId>,
}

/// SDKs send user ids as strings or numbers.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum UserId {
    Text(String),
    Number(serde_json::Number),
}

/// What the collector knows about a request, beside its body.
#[derive(Debug, Clone)]
pub struct Context {
    pub project_id: ProjectId,
    pub received_at: DateTime<Utc>,
    pub client: Client,
    pub max_batch: usize,
}

/// Parses a request body into events, all or nothing.
pub fn parse(body: &[u8], context: &Context) -> Result<Vec<Event>, IngestError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let wire: Vec<WireEvent> = match first {
        None => return Err(IngestError::MalformedJson("empty body".into())),
        Some(b'[') => deserialize(body)?,
        Some(_) => vec![deserialize(body)?],
    };
    if wire.is_empty() {
        return Err(IngestError::EmptyBatch);
    }
    if wire.len() > context.max_batch {
        return Err(IngestError::TooManyEvents {
            count: wire.len(),
            max: context.max_batch,
        });
    }
    let batch = matches!(first, Some(b'['));
    wire.into_iter()
        .enumerate()
        .map(|(index, event)| {
            event.into_event(context).map_err(|(field, reason)| {
                let path = if batch {
                    format!("[{index}].{field}")
                } else {
                    field.to_owned()
                };
                IngestError::InvalidEvent(format!("{path}: {reason}"))
            })
        })
        .collect()
}

fn deserialize<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, IngestError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_data() {
            IngestError::InvalidEvent(format!("{path}: {inner}"))
        } else {
            IngestError::MalformedJson(inner.to_string())
        }
    })?;
    deserializer
        .end()
        .map_err(|error| IngestError::MalformedJson(error.to_string()))?;
    Ok(value)
}

type FieldError = (&'static str, String);

impl WireEvent {
    fn into_event(self, context: &Context) -> Result<Event, FieldError> {
        let event_id = match self.event_id.as_deref() {
            None => EventId::new_random(),
            Some(id) => id.parse::<EventId>().map_err(|_| {
                (
                    "event_id",
                    "must be a UUID (32 hex digits, dashes optional)".to_owned(),
                )
            })?,
        };
        let timestamp = match self.timestamp {
            None => context.received_at,
            Some(ms) => timestamp(ms, context.received_at)?,
        };
        let mut message = self.message.map(|m| truncate(m, MAX_MESSAGE));
        let stack = self.stack.map(|s| truncate(s, MAX_STACK));
        let target = self.target.map(|t| truncate(t, MAX_URL));
        let tag_name = self.tag_name.map(short);
        let method = self.method.map(|m| short(m).to_ascii_uppercase());
        let name = self.name.map(short);

        let detail = match self.kind {
            EventType::Error => {
                if message.as_deref().is_none_or(str::is_empty) {
                    // The first line of a stack is the message in every browser's format.
                    message = stack
                        .as_deref()
                        .and_then(|s| s.lines().next())
                        .filter(|line| !line.trim().is_empty())
                        .map(str::to_owned);
                }
                if message.is_none() {
                    return Err(("message", "an error needs a message or a stack".into()));
                }
                Detail::Error {}
            }
            EventType::ResourceError => {
                let target = required(target, "target", "resource_error")?;
                message.get_or_insert_with(|| {
                    format!(
                        "Failed to load {} {target}",
                        tag_name.as_deref().unwrap_or("resource")
                    )
                });
                Detail::ResourceError { target, tag_name }
            }
            EventType::ApiError => {
                let target = required(target, "target", "api_error")?;
                let duration_ms = self
                    .duration_ms
                    .map(|d| non_negative(d, "duration_ms"))
                    .transpose()?;
                message.get_or_insert_with(|| {
                    let method = method.as_deref().unwrap_or("GET");
                    match self.status {
                        Some(status) => format!("{method} {target} failed with {status}"),
                        None => format!("{method} {target} failed without a response"),
                    }
                });
                Detail::ApiError {
                    target,
                    method,
                    status: self.status,
                    duration_ms,
                }
            }
            EventType::Vital => {
                let name = required(name, "name", "vital")?;
                let name = vital_name(&name)?;
                let value = self
                    .value
                    .ok_or(("value", "required for a vital".to_owned()))?;
                let value = non_negative(value, "value")?;
                let rating = self.rating.unwrap_or_else(|| name.rate(value));
                Detail::Vital {
                    name,
                    value,
                    rating,
                }
            }
            EventType::Pageview => Detail::Pageview {
                referrer: self.referrer.map(|r| truncate(r, MAX_URL)),
                title: self.title.map(short),
            },
            EventType::Click => Detail::Click {
                selector: self.selector.map(|s| truncate(s, MAX_URL)),
                text: self.text.map(short),
            },
            EventType::Custom => {
                let name = required(name, "name", "custom")?;
                if name.is_empty() {
                    return Err(("name", "must not be empty".into()));
                }
                Detail::Custom {
                    name,
                    data: self.data,
                }
            }
        };

        let tags = self.tags.unwrap_or_default();
        if tags.len() > MAX_TAGS {
            return Err(("tags", format!("at most {MAX_TAGS} tags")));
        }
        let tags = tags
            .into_iter()
            .map(|(key, value)| (truncate(key, MAX_TAG_KEY), short(value)))
            .collect();

        Ok(Event {
            event_id,
            project_id: context.project_id,
            timestamp,
            received_at: context.received_at,
            detail,
            url: self.url.map(|u| truncate(u, MAX_URL)),
            message,
            stack,
            release: self.release.map(short),
            environment: self.environment.map(short),
            user: self.user.and_then(|user| user.id).map(|id| User {
                id: Some(short(match id {
                    UserId::Text(text) => text,
                    UserId::Number(number) => number.to_string(),
                })),
            }),
            tags,
            session_id: self.session_id.map(short),
            client: context.client.clone(),
        })
    }
}

fn required(value: Option<String>, field: &'static str, kind: &str) -> Result<String, FieldError> {
    value.ok_or_else(|| (field, format!("required for {kind}")))
}

fn non_negative(value: f64, field: &'static str) -> Result<f64, FieldError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err((field, "must be a non-negative number".into()))
    }
}

fn vital_name(name: &str) -> Result<VitalName, FieldError> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "LCP" => VitalName::Lcp,
        "INP" => VitalName::Inp,
        "CLS" => VitalName::Cls,
        "FCP" => VitalName::Fcp,
        "TTFB" => VitalName::Ttfb,
        _ => {
            return Err((
                "name",
                format!("{name:?} is not a web vital (expected LCP, INP, CLS, FCP or TTFB)"),
            ));
        }
    })
}

/// Milliseconds since the epoch; a timestamp from a browser clock running ahead of ours is
/// replaced by our receive time, so events never appear to come from the future.
fn timestamp(ms: f64, received_at: DateTime<Utc>) -> Result<DateTime<Utc>, FieldError> {
    let invalid = || {
        (
            "timestamp",
            "must be milliseconds since the Unix epoch".to_owned(),
        )
    };
    if !ms.is_finite() || ms <= 0.0 || ms > 1e15 {
        return Err(invalid());
    }
    #[allow(clippy::cast_possible_truncation)]
    let at = DateTime::from_timestamp_millis(ms as i64).ok_or_else(invalid)?;
    if (at - received_at).num_milliseconds() > MAX_CLOCK_AHEAD_MS {
        Ok(received_at)
    } else {
        Ok(at)
    }
}

fn short(value: String) -> String {
    truncate(value, MAX_SHORT)
}

fn truncate(mut value: String, max: usize) -> String {
    if value.len() > max {
        let mut cut = max;
        while !value.is_char_boundary(cut) {
            cut -= 1;
        }
        value.truncate(cut);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::event::RoutingKey;

    fn context() -> Context {
        Context {
            project_id: ProjectId::new(3).expect("non-zero"),
            received_at: DateTime::from_timestamp_millis(1_750_000_000_000).expect("valid"),
            client: Client::default(),
            max_batch: 3,
        }
    }

    fn parse_str(body: &str) -> Result<Vec<Event>, IngestError> {
        parse(body.as_bytes(), &context())
    }

    fn error_text(body: &str) -> String {
        parse_str(body).expect_err("should be rejected").to_string()
    }

    #[test]
    fn every_native_type_gets_its_routing_key() {
        let body = r#"[
            {"type":"error","message":"boom"},
            {"type":"resource_error","target":"https://cdn/app.js","tag_name":"script"},
            {"type":"api_error","target":"/api/cart","method":"post","status":502}
        ]"#;
        let events = parse_str(body).expect("valid");
        let keys: Vec<_> = events.iter().map(Event::routing_key).collect();
        assert_eq!(
            keys,
            [
                RoutingKey::ErrorJs,
                RoutingKey::ErrorResource,
                RoutingKey::ErrorApi
            ]
        );
        assert_eq!(
            events[1].message.as_deref(),
            Some("Failed to load script https://cdn/app.js")
        );
        assert_eq!(
            events[2].message.as_deref(),
            Some("POST /api/cart failed with 502")
        );

        let body = r#"[
            {"type":"vital","name":"lcp","value":3000},
            {"type":"pageview","url":"https://x/"},
            {"type":"click","selector":"button#buy"}
        ]"#;
        let events = parse_str(body).expect("valid");
        let keys: Vec<_> = events.iter().map(Event::routing_key).collect();
        assert_eq!(
            keys,
            [
                RoutingKey::PerfVital,
                RoutingKey::BehaviorPageview,
                RoutingKey::BehaviorClick
            ]
        );
        assert!(matches!(
            events[0].detail,
            Detail::Vital {
                name: VitalName::Lcp,
                rating: Rating::NeedsImprovement,
                ..
            }
        ));
        let custom =
            parse_str(r#"{"type":"custom","name":"checkout","data":{"total":3}}"#).expect("valid");
        assert_eq!(custom[0].routing_key(), RoutingKey::CustomEvent);
    }

    #[test]
    fn ids_and_timestamps_are_kept_or_filled_in() {
        let events = parse_str(
            r#"[{"type":"error","message":"a","event_id":"6f1c0a6e-0b8e-4f6e-9a61-3c2b1a0f9e8d","timestamp":1749999999000.5},
                {"type":"error","message":"b","timestamp":1760000000000}]"#,
        )
        .expect("valid");
        assert_eq!(
            events[0].event_id.to_string(),
            "6f1c0a6e0b8e4f6e9a613c2b1a0f9e8d"
        );
        assert_eq!(events[0].timestamp.timestamp_millis(), 1_749_999_999_000);
        // From the future: clamped to the receive time.
        assert_eq!(events[1].timestamp, context().received_at);
        let events = parse_str(r#"{"type":"pageview"}"#).expect("valid");
        assert_eq!(events[0].timestamp, context().received_at);
    }

    #[test]
    fn errors_name_the_field() {
        assert!(error_text(r#"{"type":"nope"}"#).contains("type: unknown variant `nope`"));
        assert!(error_text(r#"{"message":"x"}"#).contains("missing field `type`"));
        assert!(
            error_text(
                r#"[{"type":"error","message":"x"},{"type":"vital","name":"FID","value":1}]"#
            )
            .contains("[1].name: \"FID\" is not a web vital")
        );
        assert!(error_text(r#"{"type":"vital","name":"LCP"}"#).contains("value: required"));
        assert!(
            error_text(r#"{"type":"error","message":"x","timestamp":"yesterday"}"#)
                .contains("timestamp")
        );
        assert!(
            error_text(r#"{"type":"error","message":"x","event_id":"12"}"#)
                .contains("event_id: must be a UUID")
        );
        assert!(
            error_text(r#"{"type":"error"}"#)
                .contains("message: an error needs a message or a stack")
        );
        assert!(
            error_text(r#"{"type":"api_error","status":500}"#)
                .contains("target: required for api_error")
        );
        assert!(error_text(r#"{"type":"error","message":"x","tags":{"a":1}}"#).contains("tags.a"));
    }

    #[test]
    fn malformed_bodies_are_rejected_with_position() {
        assert!(matches!(parse_str(""), Err(IngestError::MalformedJson(_))));
        assert!(matches!(parse_str("[]"), Err(IngestError::EmptyBatch)));
        let text = error_text(r#"{"type":"error","message":"x"#);
        assert!(
            text.starts_with("malformed JSON") && text.contains("line 1"),
            "{text}"
        );
        assert!(matches!(
            parse_str(r#"{"type":"error","message":"x"} trailing"#),
            Err(IngestError::MalformedJson(_))
        ));
        let too_many = r#"[{"type":"click"},{"type":"click"},{"type":"click"},{"type":"click"}]"#;
        assert!(matches!(
            parse_str(too_many),
            Err(IngestError::TooManyEvents { count: 4, max: 3 })
        ));
    }

    #[test]
    fn long_text_is_truncated_on_a_character_boundary() {
        let message = "é".repeat(MAX_MESSAGE);
        let body = serde_json::json!({"type":"error","message":message}).to_string();
        let events = parse_str(&body).expect("valid");
        let kept = events[0].message.as_deref().expect("message");
        assert!(kept.len() <= MAX_MESSAGE && kept.chars().all(|c| c == 'é'));
    }

    #[test]
    fn the_stack_supplies_a_missing_message() {
        let events = parse_str(r#"{"type":"error","stack":"TypeError: x\n at f (a.js:1:1)"}"#)
            .expect("valid");
        assert_eq!(events[0].message.as_deref(), Some("TypeError: x"));
    }
}
