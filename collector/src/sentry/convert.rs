//! Sentry payloads as our events: an error or message event, a transaction (and the web
//! vitals among its measurements), a session update.
//!
//! Written from the public description of the event payload and from what `@sentry/browser`
//! really sends (recorded in `tests/envelopes/`). Tolerant like the SDKs expect: a field of an
//! unexpected JSON type is left in [`Event::sentry`] as sent rather than failing the event;
//! only what identifies the event (a payload that is not an object, an `event_id` that is not
//! a UUID) is refused. Every string kept is bounded and without NUL characters.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value};
use shared::event::{
    AUTO_IP, Detail, Event, EventId, Exception, Level, StackFrame, User, VitalName,
};
use uuid::Uuid;

use crate::payload::{
    Context, MAX_CLOCK_AHEAD_MS, MAX_MESSAGE, MAX_SHORT, MAX_TAG_KEY, MAX_TAGS, MAX_URL, short,
    text,
};

/// The longest string kept anywhere in the rest of a payload (breadcrumb data, extra, …).
const MAX_OTHER_TEXT: usize = 16 * 1024;
/// The longest array kept in the rest of a payload (SDKs cap breadcrumbs at 100, spans at
/// 1,000).
const MAX_OTHER_ITEMS: usize = 1000;
/// Frames kept per exception: the innermost ones, where the error was thrown.
const MAX_FRAMES: usize = 250;
/// Exceptions kept per event (a chain of causes).
const MAX_EXCEPTIONS: usize = 16;
const MAX_FINGERPRINT_PARTS: usize = 32;
/// Source lines kept around a frame, on each side, and their length.
const MAX_CONTEXT_LINES: usize = 10;
const MAX_CONTEXT_LINE: usize = 256;
/// The clock drift we correct: a browser clock off by less is left alone, as Sentry does,
/// since `sent_at` and our receive time also differ by the request's transit time.
const MIN_CORRECTED_DRIFT_SECS: i64 = 60;

/// Names the event ids we derive for items that have none (a vital of a transaction, a
/// session update), so the same item sent twice gets the same id and is stored once.
const DERIVED_IDS: Uuid = Uuid::from_u128(0x6c3e_1f0a_9d4b_4e27_8a51_c0ff_ee15_f00d);

/// What an item could not be made into.
pub type ItemError = String;

/// What the envelope tells about all of its items.
#[derive(Debug, Clone, Default)]
pub struct EnvelopeFacts {
    /// The envelope header's `event_id`, for an event payload without one.
    pub event_id: Option<EventId>,
    /// Our receive time minus the SDK's `sent_at`: how far the browser's clock is behind.
    pub drift: Option<Duration>,
}

impl EnvelopeFacts {
    pub fn new(event_id: Option<&str>, sent_at: Option<&str>, received_at: DateTime<Utc>) -> Self {
        let drift = sent_at
            .and_then(|sent| DateTime::parse_from_rfc3339(sent).ok())
            .map(|sent| received_at - sent.with_timezone(&Utc))
            .filter(|drift| drift.num_seconds().abs() >= MIN_CORRECTED_DRIFT_SECS);
        Self {
            event_id: event_id.and_then(|id| id.parse().ok()),
            drift,
        }
    }
}

/// An `event` item, or a `/store/` body: an error (it has an exception, or its level is
/// error or fatal; Sentry's default level is error) or a message.
pub fn event(payload: &[u8], facts: &EnvelopeFacts, context: &Context) -> Result<Event, ItemError> {
    let mut map = object(payload)?;
    let mut event = common(&mut map, facts, context)?;
    event.exceptions = take_exceptions(&mut map);
    let level = take_str(&mut map, "level")
        .and_then(|level| Level::parse(&level))
        .unwrap_or(Level::Error);
    event.level = Some(level);
    event.message = take_message(&mut map);
    if event.message.is_none() {
        event.message =
            event
                .exceptions
                .last()
                .map(|exception| match (&exception.kind, &exception.value) {
                    (Some(kind), Some(value)) => format!("{kind}: {value}"),
                    (Some(only), None) | (None, Some(only)) => only.clone(),
                    (None, None) => "<unlabeled exception>".to_owned(),
                });
    }
    event.message = event.message.map(|m| text(m, MAX_MESSAGE));
    event.fingerprint = take_fingerprint(&mut map);
    let thrown = event.exceptions.iter().any(|e| !e.is_synthetic());
    event.detail = if thrown || level.is_error() {
        Detail::Error {}
    } else {
        Detail::Message {}
    };
    event.sentry = rest(map);
    Ok(event)
}

/// A `transaction` item, followed by one vital event per web vital among its measurements,
/// so vitals charts count Sentry users too.
pub fn transaction(
    payload: &[u8],
    facts: &EnvelopeFacts,
    context: &Context,
) -> Result<Vec<Event>, ItemError> {
    let mut map = object(payload)?;
    let start = map.get("start_timestamp").and_then(time);
    let mut event = common(&mut map, facts, context)?;
    let end = event.timestamp;
    let duration_ms = start
        .map(|start| {
            (end - correct(start, facts))
                .num_microseconds()
                .unwrap_or(0) as f64
                / 1e3
        })
        .filter(|ms| *ms >= 0.0)
        .unwrap_or(0.0);
    let name = take_str(&mut map, "transaction").map_or_else(
        || {
            event
                .url
                .clone()
                .unwrap_or_else(|| "<unlabeled transaction>".into())
        },
        |name| text(name, MAX_URL),
    );
    let op = event
        .contexts
        .get("trace")
        .and_then(|trace| trace.get("op"))
        .and_then(Value::as_str)
        .map(|op| short(op.to_owned()));
    map.remove("type");
    let vitals = vitals(map.get("measurements"), &event);
    event.detail = Detail::Transaction {
        name,
        op,
        duration_ms,
    };
    event.sentry = rest(map);
    let mut events = vec![event];
    events.extend(vitals);
    Ok(events)
}

/// A `session` item: one update of a page session (its start, its end, its first error).
pub fn session(
    payload: &[u8],
    facts: &EnvelopeFacts,
    context: &Context,
) -> Result<Event, ItemError> {
    let mut map = object(payload)?;
    let sid = take_str(&mut map, "sid").map(short);
    let status = take_str(&mut map, "status").map_or_else(|| "ok".to_owned(), short);
    let errors = map.get("errors").and_then(Value::as_u64).unwrap_or(0);
    let init = map.get("init").and_then(Value::as_bool).unwrap_or(false);
    let sent_time = map
        .get("timestamp")
        .or_else(|| map.get("started"))
        .and_then(time);
    let when = sent_time.map_or(context.received_at, |t| clamp(correct(t, facts), context));
    // A session has no event id; the same update sent twice must still be stored once, so
    // the id comes from what the SDK sent (not from our clock, which differs per retry).
    let identity = format!(
        "session|{}|{}|{status}|{errors}|{init}",
        sid.as_deref().unwrap_or_default(),
        sent_time.map_or(0, |t| t.timestamp_micros())
    );
    let mut event = blank(derived_id(&identity), when, context);
    event.release = session_attr(&map, "release");
    event.environment = session_attr(&map, "environment");
    event.user = take_str(&mut map, "did").map(|did| User {
        id: Some(short(did)),
        ..User::default()
    });
    event.detail = Detail::Session {
        sid,
        status,
        errors,
        init,
    };
    event.sentry = rest(map);
    Ok(event)
}

/// A `sessions` item: counts of sessions by status, aggregated by the SDK (server-side SDKs
/// mostly). Kept as one session event whose status is `aggregate`.
pub fn sessions(payload: &[u8], context: &Context) -> Result<Event, ItemError> {
    let map = object(payload)?;
    let errors = map
        .get("aggregates")
        .and_then(Value::as_array)
        .map_or(0, |buckets| {
            buckets
                .iter()
                .filter_map(|bucket| bucket.get("errored").and_then(Value::as_u64))
                .sum()
        });
    let identity = format!(
        "sessions|{}",
        serde_json::to_string(&map).unwrap_or_default()
    );
    let mut event = blank(derived_id(&identity), context.received_at, context);
    event.release = session_attr(&map, "release");
    event.environment = session_attr(&map, "environment");
    event.detail = Detail::Session {
        sid: None,
        status: "aggregate".into(),
        errors,
        init: false,
    };
    event.sentry = rest(map);
    Ok(event)
}

/// A session's `attrs.<key>`, bounded.
fn session_attr(session: &Map<String, Value>, key: &str) -> Option<String> {
    session
        .get("attrs")?
        .get(key)?
        .as_str()
        .map(|value| short(value.to_owned()))
}

/// A `span` item: the web vitals among its spans, each as a vital event; the spans
/// themselves are not kept. SDK 8 sends one span (v1: INP, with `measurements`); SDK 10 and
/// later stream every span (v2: `{"items": [...]}`), the vitals as attributes
/// (`browser.web_vital.lcp.value`), and send no transactions by default.
pub fn span_vitals(
    payload: &[u8],
    facts: &EnvelopeFacts,
    context: &Context,
) -> Result<Vec<Event>, ItemError> {
    let map = object(payload)?;
    let spans: Vec<&Map<String, Value>> = match map.get("items") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).collect(),
        _ => vec![&map],
    };
    let mut vitals = Vec::new();
    for span in spans {
        let attributes = span.get("attributes").and_then(Value::as_object);
        // v2 attributes are `{"value": …, "type": …}`; v1 keeps plain values in `data`.
        let attribute = |key: &str| -> Option<&Value> {
            match attributes {
                Some(attributes) => attributes.get(key)?.get("value"),
                None => span.get("data")?.get(key),
            }
        };
        let text_attribute = |keys: &[&str]| {
            keys.iter()
                .find_map(|key| attribute(key).and_then(Value::as_str))
                .map(|value| short(value.to_owned()))
        };
        let span_id = span
            .get("span_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let when = span
            .get("end_timestamp")
            .or_else(|| span.get("timestamp"))
            .and_then(time)
            .map_or(context.received_at, |t| clamp(correct(t, facts), context));
        for (key, name) in VITALS {
            let value = attribute(&format!("browser.web_vital.{key}.value"))
                .or_else(|| span.get("measurements")?.get(key)?.get("value"))
                .and_then(Value::as_f64);
            let Some(value) = value.filter(|v| v.is_finite() && *v >= 0.0) else {
                continue;
            };
            let mut vital = blank(
                derived_id(&format!("span-vital|{span_id}|{key}")),
                when,
                context,
            );
            vital.release = text_attribute(&["sentry.release", "release"]);
            vital.environment = text_attribute(&["sentry.environment", "environment"]);
            vital.user = text_attribute(&["user.id"]).map(|id| User {
                id: Some(id),
                ..User::default()
            });
            vital.detail = Detail::Vital {
                name,
                value,
                rating: name.rate(value),
            };
            vitals.push(vital);
        }
    }
    Ok(vitals)
}

/// The web vitals we chart, by the names Sentry SDKs give them.
const VITALS: [(&str, VitalName); 5] = [
    ("lcp", VitalName::Lcp),
    ("fcp", VitalName::Fcp),
    ("cls", VitalName::Cls),
    ("ttfb", VitalName::Ttfb),
    ("inp", VitalName::Inp),
];

/// The payload as a JSON object.
fn object(payload: &[u8]) -> Result<Map<String, Value>, ItemError> {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the payload must be a JSON object".into()),
        Err(error) => Err(format!("malformed JSON: {error}")),
    }
}

/// An event with nothing but its id, times and sender.
fn blank(event_id: EventId, timestamp: DateTime<Utc>, context: &Context) -> Event {
    let mut event = Event::new(
        event_id,
        context.project_id,
        timestamp,
        context.received_at,
        Detail::Message {},
    );
    event.client = context.client.clone();
    event
}

/// What events and transactions share: id, time, release, environment, user, tags, URL,
/// contexts.
fn common(
    map: &mut Map<String, Value>,
    facts: &EnvelopeFacts,
    context: &Context,
) -> Result<Event, ItemError> {
    let event_id = match take_str(map, "event_id") {
        Some(id) => id
            .parse::<EventId>()
            .map_err(|_| "event_id: must be a UUID (32 hex digits, dashes optional)".to_owned())?,
        None => facts.event_id.unwrap_or_else(EventId::new_random),
    };
    let timestamp = map
        .remove("timestamp")
        .as_ref()
        .and_then(time)
        .map_or(context.received_at, |t| clamp(correct(t, facts), context));
    let mut event = blank(event_id, timestamp, context);
    event.release = take_str(map, "release").map(short);
    // What Sentry records for an SDK that names none.
    event.environment =
        Some(take_str(map, "environment").map_or_else(|| "production".into(), short));
    event.tags = take_tags(map);
    event.user = take_user(map);
    event.url = map
        .get("request")
        .and_then(|request| request.get("url"))
        .and_then(Value::as_str)
        .map(|url| text(url.to_owned(), MAX_URL));
    if let Some(Value::Object(contexts)) = map.remove("contexts") {
        event.contexts = contexts;
        sanitize_map(&mut event.contexts);
    }
    // Since SDK 9 a page asks for its address to be recorded here rather than with
    // `user.ip_address = "{{auto}}"`; both mean the same to the processor.
    let infer_ip = map
        .get("sdk")
        .and_then(|sdk| sdk.get("settings"))
        .and_then(|settings| settings.get("infer_ip"))
        .and_then(Value::as_str)
        == Some("auto");
    if infer_ip {
        let user = event.user.get_or_insert_with(User::default);
        if user.ip_address.is_none() {
            user.ip_address = Some(AUTO_IP.to_owned());
        }
    }
    Ok(event)
}

/// Seconds since the epoch (a float), or an RFC 3339 string: both are valid Sentry
/// timestamps.
fn time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(seconds) => {
            let micros = seconds.as_f64().filter(|s| s.is_finite() && *s > 0.0)? * 1e6;
            #[allow(clippy::cast_possible_truncation)]
            Utc.timestamp_micros(micros as i64).single()
        }
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    }
}

/// A browser time, by our clock.
fn correct(time: DateTime<Utc>, facts: &EnvelopeFacts) -> DateTime<Utc> {
    facts.drift.map_or(time, |drift| time + drift)
}

/// A time still ahead of ours after correction is our receive time: events never come from
/// the future.
fn clamp(time: DateTime<Utc>, context: &Context) -> DateTime<Utc> {
    if time > context.received_at + Duration::milliseconds(MAX_CLOCK_AHEAD_MS) {
        context.received_at
    } else {
        time
    }
}

fn derived_id(identity: &str) -> EventId {
    EventId::from_uuid(Uuid::new_v5(&DERIVED_IDS, identity.as_bytes()))
}

/// Removes `key` if it holds a string (or a number, which some SDKs send for ids and
/// releases); a value of another type stays in the payload as sent.
fn take_str(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    let text = scalar_text(map.get(key)?)?;
    map.remove(key);
    Some(text)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// `message` (a string, or `{formatted, message, params}`) or `logentry`: the formatted text.
/// The template stays in `logentry`, which grouping uses.
fn take_message(map: &mut Map<String, Value>) -> Option<String> {
    if let Some(Value::Object(_)) = map.get("message")
        && !map.contains_key("logentry")
        && let Some(entry) = map.remove("message")
    {
        map.insert("logentry".into(), entry);
    }
    let from_entry = map.get("logentry").and_then(|entry| {
        ["formatted", "message"]
            .into_iter()
            .find_map(|key| entry.get(key).and_then(Value::as_str))
            .map(str::to_owned)
    });
    from_entry
        .or_else(|| take_str(map, "message"))
        .filter(|message| !message.is_empty())
}

fn take_exceptions(map: &mut Map<String, Value>) -> Vec<Exception> {
    let values = match map.get("exception") {
        Some(Value::Object(exception)) => exception.get("values").and_then(Value::as_array),
        Some(Value::Array(values)) => Some(values),
        _ => None,
    };
    let Some(values) = values else {
        return Vec::new();
    };
    let skip = values.len().saturating_sub(MAX_EXCEPTIONS);
    let exceptions: Vec<Exception> = values.iter().skip(skip).filter_map(exception).collect();
    map.remove("exception");
    exceptions
}

fn exception(value: &Value) -> Option<Exception> {
    let value = value.as_object()?;
    let field = |key: &str| value.get(key).and_then(scalar_text);
    let frames = value
        .get("stacktrace")
        .and_then(|stacktrace| stacktrace.get("frames"))
        .and_then(Value::as_array)
        .map(|frames| {
            let skip = frames.len().saturating_sub(MAX_FRAMES);
            frames.iter().skip(skip).filter_map(frame).collect()
        })
        .unwrap_or_default();
    let mut mechanism = value.get("mechanism").cloned();
    if let Some(mechanism) = &mut mechanism {
        sanitize(mechanism);
    }
    Some(Exception {
        kind: field("type").map(short),
        value: field("value").map(|v| text(v, MAX_MESSAGE)),
        module: field("module").map(short),
        mechanism,
        frames,
        raw_frames: Vec::new(),
    })
}

fn frame(value: &Value) -> Option<StackFrame> {
    let value = value.as_object()?;
    let field = |key: &str, max: usize| {
        value
            .get(key)
            .and_then(scalar_text)
            .map(|text_value| text(text_value, max))
    };
    let number = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    Some(StackFrame {
        function: field("function", MAX_SHORT),
        module: field("module", MAX_SHORT),
        filename: field("filename", MAX_URL),
        abs_path: field("abs_path", MAX_URL),
        lineno: number("lineno"),
        colno: number("colno"),
        in_app: value.get("in_app").and_then(Value::as_bool),
        pre_context: context_lines(value.get("pre_context")),
        context_line: field("context_line", MAX_CONTEXT_LINE),
        post_context: context_lines(value.get("post_context")),
    })
}

/// Source lines around a frame (SDKs with the context-lines integration send them).
fn context_lines(lines: Option<&Value>) -> Vec<String> {
    lines
        .and_then(Value::as_array)
        .map(|lines| {
            lines
                .iter()
                .filter_map(Value::as_str)
                .take(MAX_CONTEXT_LINES)
                .map(|line| text(line.to_owned(), MAX_CONTEXT_LINE))
                .collect()
        })
        .unwrap_or_default()
}

/// `{"key": "value"}` or `[["key", "value"]]`; values of any scalar type.
fn take_tags(map: &mut Map<String, Value>) -> BTreeMap<String, String> {
    let pairs: Vec<(String, String)> = match map.get("tags") {
        Some(Value::Object(tags)) => tags
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), scalar_text(value)?)))
            .collect(),
        Some(Value::Array(tags)) => tags
            .iter()
            .filter_map(|pair| match pair.as_array()?.as_slice() {
                [key, value] => Some((key.as_str()?.to_owned(), scalar_text(value)?)),
                _ => None,
            })
            .collect(),
        _ => return BTreeMap::new(),
    };
    map.remove("tags");
    pairs
        .into_iter()
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (text(key, MAX_TAG_KEY), short(value)))
        .take(MAX_TAGS)
        .collect()
}

fn take_user(map: &mut Map<String, Value>) -> Option<User> {
    let Some(Value::Object(mut fields)) = map.remove("user") else {
        return None;
    };
    let mut take = |key: &str| take_str(&mut fields, key).map(short);
    let user = User {
        id: take("id"),
        email: take("email"),
        username: take("username"),
        ip_address: take("ip_address"),
        other: {
            sanitize_map(&mut fields);
            fields
        },
    };
    Some(user)
}

fn take_fingerprint(map: &mut Map<String, Value>) -> Vec<String> {
    let Some(Value::Array(parts)) = map.get("fingerprint") else {
        return Vec::new();
    };
    let parts = parts
        .iter()
        .filter_map(scalar_text)
        .take(MAX_FINGERPRINT_PARTS)
        .map(short)
        .collect();
    map.remove("fingerprint");
    parts
}

/// The web vitals of a transaction's `measurements` (`{"lcp": {"value": 1234.5, "unit":
/// "millisecond"}}`), each as a vital event of its own.
fn vitals(measurements: Option<&Value>, transaction: &Event) -> Vec<Event> {
    let Some(Value::Object(measurements)) = measurements else {
        return Vec::new();
    };
    VITALS
        .into_iter()
        .filter_map(|(key, name)| {
            let value = measurements.get(key)?.get("value")?.as_f64()?;
            if !value.is_finite() || value < 0.0 {
                return None;
            }
            let mut vital = transaction.clone();
            vital.event_id = derived_id(&format!("vital|{}|{key}", transaction.event_id));
            vital.detail = Detail::Vital {
                name,
                value,
                rating: name.rate(value),
            };
            vital.contexts = Map::new();
            vital.sentry = Map::new();
            Some(vital)
        })
        .collect()
}

/// What is left of a payload once the typed fields are taken out, bounded.
fn rest(mut map: Map<String, Value>) -> Map<String, Value> {
    sanitize_map(&mut map);
    map
}

fn sanitize_map(map: &mut Map<String, Value>) {
    if map
        .keys()
        .any(|key| key.contains('\0') || key.len() > MAX_SHORT)
    {
        *map = std::mem::take(map)
            .into_iter()
            .map(|(key, value)| (text(key, MAX_SHORT), value))
            .collect();
    }
    map.values_mut().for_each(sanitize);
}

/// Strings without NUL (PostgreSQL refuses it in `jsonb`) and at most [`MAX_OTHER_TEXT`]
/// bytes, arrays at most [`MAX_OTHER_ITEMS`] long. Recursion is bounded by serde_json's
/// recursion limit (128), which held when the value was parsed.
fn sanitize(value: &mut Value) {
    match value {
        Value::String(string) if string.contains('\0') || string.len() > MAX_OTHER_TEXT => {
            *string = text(std::mem::take(string), MAX_OTHER_TEXT);
        }
        Value::Array(items) => {
            items.truncate(MAX_OTHER_ITEMS);
            items.iter_mut().for_each(sanitize);
        }
        Value::Object(map) => sanitize_map(map),
        _ => {}
    }
}
