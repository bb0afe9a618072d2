//! The native wire format, parsed once into typed events.
//!
//! A body is one JSON event or a JSON array of them. Each is checked here, and only here:
//! unknown `type`s and invalid fields are rejected naming the field (`[3].value: …`), text
//! fields are truncated to bounded sizes, missing ids and timestamps are filled in. Fields we
//! do not know are ignored, so newer SDKs keep working against an older collector.
//!
//! Anyone can send anything here, so parsing is bounded: serde_json's recursion limit (128)
//! turns deep nesting into an error instead of a stack overflow, a batch stops being collected
//! at `max_batch` events (the rest is only counted), and NUL characters are stripped from
//! every string we keep, `data` included, because PostgreSQL refuses them in `text` and
//! `jsonb`, which would make the event poison downstream.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use shared::event::{Client, Detail, Event, EventId, ProjectId, Rating, User, VitalName};

use crate::error::IngestError;

/// Upper bounds on text fields, in bytes; longer values are cut at a character boundary and
/// end with [`TRUNCATED`], so a real error with a huge stack is still recorded, visibly cut.
pub const MAX_MESSAGE: usize = 8 * 1024;
pub const MAX_STACK: usize = 64 * 1024;
pub const MAX_URL: usize = 2048;
pub const MAX_SHORT: usize = 256;
/// Tags beyond this many are dropped (the first ones by key order are kept): tags are for
/// filtering, a page that sends hundreds is misusing them, and refusing the event would lose
/// the error it carries.
pub const MAX_TAGS: usize = 64;
pub const MAX_TAG_KEY: usize = 64;
/// What ends a truncated text; counted within the field's limit.
pub const TRUNCATED: &str = "…[truncated]";
const _: () = assert!(TRUNCATED.len() < MAX_TAG_KEY);
/// The longest path an error names; deep nesting or long keys make longer ones.
const MAX_ERROR_PATH: usize = 128;
/// How far ahead of our clock a browser's timestamp may be before we call it clock skew.
pub(crate) const MAX_CLOCK_AHEAD_MS: i64 = 60_000;

/// Read as a string first, so a `type` of the wrong JSON type is a data error naming the
/// field, and an unknown one says which types there are.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
enum EventType {
    Error,
    ResourceError,
    ApiError,
    Vital,
    Pageview,
    Click,
    Custom,
}

impl TryFrom<String> for EventType {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        Ok(match name.as_str() {
            "error" => EventType::Error,
            "resource_error" => EventType::ResourceError,
            "api_error" => EventType::ApiError,
            "vital" => EventType::Vital,
            "pageview" => EventType::Pageview,
            "click" => EventType::Click,
            "custom" => EventType::Custom,
            _ => {
                return Err(format!(
                    "unknown type {name:?}: expected error, resource_error, api_error, vital, \
                     pageview, click or custom"
                ));
            }
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an event (a JSON object)")]
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
    let (wire, batch) = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(IngestError::MalformedJson("empty body".into())),
        Some(b'[') => match deserialize(
            body,
            Batch {
                max: context.max_batch,
            },
        )? {
            Collected::Events(events) => (events, true),
            Collected::TooMany(count) => {
                return Err(IngestError::TooManyEvents {
                    count,
                    max: context.max_batch,
                });
            }
        },
        Some(b'{') => (vec![deserialize(body, std::marker::PhantomData)?], false),
        Some(_) => {
            // Valid JSON of the wrong shape (`42`, `"x"`, `null`) is told apart from garbage.
            deserialize(body, std::marker::PhantomData::<IgnoredAny>)?;
            return Err(IngestError::InvalidEvent(
                "the body must be an event (a JSON object) or an array of events".into(),
            ));
        }
    };
    if wire.is_empty() {
        return Err(IngestError::EmptyBatch);
    }
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

/// Deserializes the whole body with `seed`, naming the path of an error (`[3].value`), and the
/// line and column of a syntax error.
///
/// Tracking the path copies every object key into a `String` as it goes by, which was most of
/// the allocations of parsing a valid event; so a body is parsed without it, and only a body
/// that fails is parsed again, with it, for the error. Both parse the same bytes with the
/// same seed, so they fail alike.
fn deserialize<'de, S: DeserializeSeed<'de> + Clone>(
    body: &'de [u8],
    seed: S,
) -> Result<S::Value, IngestError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    if let Ok(value) = seed.clone().deserialize(&mut deserializer)
        && deserializer.end().is_ok()
    {
        return Ok(value);
    }
    deserialize_tracked(body, seed)
}

/// [`deserialize`], tracking the path, for the error.
fn deserialize_tracked<'de, S: DeserializeSeed<'de>>(
    body: &'de [u8],
    seed: S,
) -> Result<S::Value, IngestError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let mut track = serde_path_to_error::Track::new();
    let value = seed
        .deserialize(serde_path_to_error::Deserializer::new(
            &mut deserializer,
            &mut track,
        ))
        .map_err(|inner| {
            // Where the parser was: the field of a data error, and for a syntax error the
            // event of a batch it is in. The root's path is "."; say nothing rather than that.
            let mut path = track.path().to_string();
            if path.len() > MAX_ERROR_PATH {
                path = text(path, MAX_ERROR_PATH);
            }
            let said = if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            };
            if inner.is_data() {
                IngestError::InvalidEvent(said)
            } else {
                IngestError::MalformedJson(said)
            }
        })?;
    deserializer
        .end()
        .map_err(|error| IngestError::MalformedJson(error.to_string()))?;
    Ok(value)
}

/// A JSON array of events, collected up to `max`: past that the rest is only counted, so a
/// body of 60,000 tiny events costs no more memory than one of `max`.
#[derive(Clone, Copy)]
struct Batch {
    max: usize,
}

enum Collected {
    Events(Vec<WireEvent>),
    TooMany(usize),
}

impl<'de> DeserializeSeed<'de> for Batch {
    type Value = Collected;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Collected, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Batch {
    type Value = Collected;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Collected, A::Error> {
        let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max));
        while events.len() < self.max {
            match seq.next_element()? {
                Some(event) => events.push(event),
                None => return Ok(Collected::Events(events)),
            }
        }
        // At the limit: anything more is only counted, never kept.
        let mut count = events.len();
        while seq.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        Ok(if count > events.len() {
            Collected::TooMany(count)
        } else {
            Collected::Events(events)
        })
    }
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
        let mut message = self.message.map(|m| text(m, MAX_MESSAGE));
        let stack = self.stack.map(|s| text(s, MAX_STACK));
        let target = self.target.map(|t| text(t, MAX_URL));
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
                        .map(|line| text(line.to_owned(), MAX_MESSAGE));
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
                referrer: self.referrer.map(|r| text(r, MAX_URL)),
                title: self.title.map(short),
            },
            EventType::Click => Detail::Click {
                selector: self.selector.map(|s| text(s, MAX_URL)),
                text: self.text.map(short),
            },
            EventType::Custom => {
                let name = required(name, "name", "custom")?;
                if name.is_empty() {
                    return Err(("name", "must not be empty".into()));
                }
                let mut data = self.data;
                if let Some(data) = &mut data {
                    strip_nul(data);
                }
                Detail::Custom { name, data }
            }
        };

        let tags = self
            .tags
            .unwrap_or_default()
            .into_iter()
            .take(MAX_TAGS)
            .map(|(key, value)| (text(key, MAX_TAG_KEY), short(value)))
            .collect();

        Ok(Event {
            event_id,
            project_id: context.project_id,
            timestamp,
            received_at: context.received_at,
            detail,
            url: self.url.map(|u| text(u, MAX_URL)),
            // The native SDK sends the address only.
            route: None,
            message,
            stack,
            release: self.release.map(short),
            environment: self.environment.map(short),
            user: self.user.and_then(|user| user.id).map(|id| User {
                id: Some(short(match id {
                    UserId::Text(text) => text,
                    UserId::Number(number) => number.to_string(),
                })),
                ..User::default()
            }),
            tags,
            session_id: self.session_id.map(short),
            client: context.client.clone(),
            level: None,
            exceptions: Vec::new(),
            fingerprint: Vec::new(),
            contexts: serde_json::Map::new(),
            sentry: serde_json::Map::new(),
            processing_errors: Vec::new(),
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
            "must be a positive number of milliseconds since the Unix epoch".to_owned(),
        )
    };
    // Below 1 ms it would be the epoch itself: a zero, not a time.
    if !ms.is_finite() || ms < 1.0 {
        return Err(invalid());
    }
    #[allow(clippy::cast_precision_loss)]
    let latest = (received_at.timestamp_millis() + MAX_CLOCK_AHEAD_MS) as f64;
    if ms > latest {
        return Ok(received_at);
    }
    #[allow(clippy::cast_possible_truncation)]
    DateTime::from_timestamp_millis(ms as i64).ok_or_else(invalid)
}

pub(crate) fn short(value: String) -> String {
    text(value, MAX_SHORT)
}

/// A text field as we keep it: without NUL characters, and at most `max` bytes, cut at a
/// character boundary and marked with [`TRUNCATED`] when it was longer.
pub(crate) fn text(mut value: String, max: usize) -> String {
    if value.contains('\0') {
        value.retain(|c| c != '\0');
    }
    if value.len() > max {
        let mut cut = max.saturating_sub(TRUNCATED.len());
        while !value.is_char_boundary(cut) {
            cut -= 1;
        }
        value.truncate(cut);
        value.push_str(TRUNCATED);
    }
    value
}

/// Removes NUL characters from every string and key of arbitrary JSON, in place. Recursion is
/// bounded: the value came from serde_json, whose recursion limit (128) already held.
fn strip_nul(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(text) if text.contains('\0') => text.retain(|c| c != '\0'),
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(map) => {
            if map.keys().any(|key| key.contains('\0')) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(mut key, value)| {
                        key.retain(|c| c != '\0');
                        (key, value)
                    })
                    .collect();
            }
            map.values_mut().for_each(strip_nul);
        }
        _ => {}
    }
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
        assert!(
            error_text(r#"{"type":"nope"}"#)
                .contains("type: unknown type \"nope\": expected error,")
        );
        assert!(
            error_text(r#"{"type":7}"#)
                .contains("type: invalid type: integer `7`, expected a string")
        );
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
    fn long_text_is_truncated_on_a_character_boundary_with_a_marker() {
        let message = "é".repeat(MAX_MESSAGE);
        let stack = format!("Error: {}\n at f (a.js:1:1)", "x".repeat(MAX_STACK));
        let body = serde_json::json!({"type":"error","message":message,"stack":stack}).to_string();
        let events = parse_str(&body).expect("valid");
        let kept = events[0].message.as_deref().expect("message");
        assert!(kept.len() <= MAX_MESSAGE, "{}", kept.len());
        let cut = kept.strip_suffix(TRUNCATED).expect("marked");
        assert!(cut.chars().all(|c| c == 'é'));
        let stack = events[0].stack.as_deref().expect("stack");
        assert_eq!(stack.len(), MAX_STACK);
        assert!(stack.starts_with("Error: xxx") && stack.ends_with(TRUNCATED));

        // A message taken from a huge stack is bounded like a message.
        let body = serde_json::json!({"type":"error","stack":"y".repeat(MAX_STACK * 2)});
        let events = parse_str(&body.to_string()).expect("valid");
        let message = events[0].message.as_deref().expect("message");
        assert_eq!(message.len(), MAX_MESSAGE);
        assert!(message.ends_with(TRUNCATED));

        // At the limit exactly: kept whole, unmarked.
        let url = "u".repeat(MAX_URL);
        let events = parse_str(&serde_json::json!({"type":"pageview","url":url}).to_string())
            .expect("valid");
        assert_eq!(events[0].url.as_deref(), Some(url.as_str()));
    }

    #[test]
    fn tags_beyond_the_limit_are_dropped_not_refused() {
        let tags: serde_json::Map<String, serde_json::Value> = (0..MAX_TAGS + 10)
            .map(|i| {
                (
                    format!("k{i:03}"),
                    serde_json::Value::from("v".repeat(1000)),
                )
            })
            .chain(std::iter::once((
                "k".repeat(MAX_TAG_KEY * 2),
                serde_json::Value::from("long key"),
            )))
            .collect();
        let body = serde_json::json!({"type":"click","tags":tags}).to_string();
        let events = parse_str(&body).expect("valid");
        let kept = &events[0].tags;
        assert_eq!(kept.len(), MAX_TAGS);
        // The first ones by key order: "kkk…" sorts after "k063".
        assert!(kept.contains_key("k000") && kept.contains_key("k062"));
        assert!(!kept.contains_key("k073"));
        assert!(kept.keys().all(|key| key.len() <= MAX_TAG_KEY));
        assert!(
            kept.values()
                .all(|value| value.len() <= MAX_SHORT && value.ends_with(TRUNCATED))
        );
    }

    #[test]
    fn nul_characters_are_stripped_everywhere() {
        let body = r#"{"type":"custom","name":"a\u0000b","message":"m\u0000","url":"\u0000",
            "user":{"id":"u\u0000"},"tags":{"k\u0000":"v\u0000"},
            "data":{"x\u0000":["\u0000", {"y":"z\u0000"}], "n": 1}}"#;
        let events = parse_str(body).expect("valid");
        let event = &events[0];
        let json = serde_json::to_string(event).expect("serializes");
        assert!(!json.contains("\\u0000"), "{json}");
        assert!(matches!(&event.detail, Detail::Custom { name, .. } if name == "ab"));
        assert_eq!(event.message.as_deref(), Some("m"));
        assert_eq!(event.url.as_deref(), Some(""));
        assert_eq!(event.tags.get("k").map(String::as_str), Some("v"));
        let Detail::Custom { data, .. } = &event.detail else {
            panic!("custom")
        };
        assert_eq!(
            data.as_ref(),
            Some(&serde_json::json!({"x": ["", {"y": "z"}], "n": 1}))
        );
        // A name that was nothing but NUL is empty, and refused as such.
        assert!(
            error_text(r#"{"type":"custom","name":"\u0000"}"#).contains("name: must not be empty")
        );
    }

    #[test]
    fn hostile_json_is_refused_not_crashed_on() {
        // Deep nesting: serde_json's recursion limit holds, at the top and inside `data`.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse_str(&deep),
            Err(IngestError::MalformedJson(_)) | Err(IngestError::InvalidEvent(_))
        ));
        let text = error_text(&format!(r#"{{"type":"custom","name":"x","data":{deep}}}"#));
        assert!(text.contains("recursion limit exceeded"), "{text}");
        // Numbers out of range.
        assert!(
            error_text(r#"{"type":"vital","name":"LCP","value":1e400}"#)
                .contains("number out of range")
        );
        assert!(
            error_text(r#"{"type":"custom","name":"x","data":[1e400]}"#)
                .contains("number out of range")
        );
        let text = error_text(
            r#"{"type":"api_error","target":"/x","status":123456789012345678901234567890}"#,
        );
        assert!(
            text.starts_with("invalid event: status: invalid type"),
            "{text}"
        );
        // Valid JSON, but not an event or a batch.
        for body in ["42", "\"x\"", "null", "true"] {
            let text = error_text(body);
            assert!(
                text.contains("must be an event (a JSON object) or an array"),
                "{text}"
            );
        }
        assert!(error_text("[42]").contains("[0]: invalid type: integer `42`, expected an event"));
        // Invalid UTF-8 and lone surrogates.
        assert!(matches!(
            parse(b"{\"type\":\"error\",\"message\":\"\xff\"}", &context()),
            Err(IngestError::MalformedJson(_))
        ));
        let text = error_text(r#"{"type":"error","message":"\ud800"}"#);
        assert!(
            text.starts_with("malformed JSON") && text.contains("column"),
            "{text}"
        );
        // Negative timestamps are refused, far-future ones clamped.
        assert!(
            error_text(r#"{"type":"click","timestamp":-1}"#)
                .contains("timestamp: must be a positive")
        );
        let events = parse_str(r#"{"type":"click","timestamp":1e300}"#).expect("valid");
        assert_eq!(events[0].timestamp, context().received_at);
    }

    #[test]
    fn a_long_batch_is_counted_not_collected() {
        let body = format!("[{}]", vec![r#"{"type":"click"}"#; 50_000].join(","));
        assert!(matches!(
            parse_str(&body),
            Err(IngestError::TooManyEvents {
                count: 50_000,
                max: 3
            })
        ));
        let exact = format!("[{}]", [r#"{"type":"click"}"#; 3].join(","));
        assert_eq!(parse_str(&exact).expect("valid").len(), 3);
    }

    #[test]
    fn the_stack_supplies_a_missing_message() {
        let events = parse_str(r#"{"type":"error","stack":"TypeError: x\n at f (a.js:1:1)"}"#)
            .expect("valid");
        assert_eq!(events[0].message.as_deref(), Some("TypeError: x"));
    }
}
