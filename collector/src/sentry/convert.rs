//! Sentry payloads as our events: an error or message event, a transaction (and the web
//! vitals among its measurements), a session update, the web vitals among streamed spans, and
//! a page view for every page load or navigation (a transaction or a root span).
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

use super::pages::{Page, Pages};
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
/// session update, a page view), so the same item sent twice gets the same id and is stored
/// once.
const DERIVED_IDS: Uuid = Uuid::from_u128(0x6c3e_1f0a_9d4b_4e27_8a51_c0ff_ee15_f00d);

/// The operations of a transaction or root span that are someone viewing a page: its load,
/// and a route change of a single-page app (or a page restored from the back-forward cache).
const PAGE_OPS: [&str; 2] = ["pageload", "navigation"];
/// What SDK 11 names a streamed page load or navigation when no router names it
/// (`PAGELOAD_SPAN_NAME_FALLBACK`, `NAVIGATION_SPAN_NAME_FALLBACK`): not a route.
const PLACEHOLDER_NAMES: [&str; 2] = ["Pageload", "Navigation"];

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

/// A `transaction` item, followed, for a page load or navigation, by a page view, and by one
/// vital event per web vital among its measurements, so traffic and vitals charts count
/// Sentry users too. A page load's page is remembered in `pages` for the vitals its SDK sends
/// later in spans of their own.
pub fn transaction(
    payload: &[u8],
    facts: &EnvelopeFacts,
    context: &Context,
    pages: &Pages,
) -> Result<Vec<Event>, ItemError> {
    let mut map = object(payload)?;
    let start = map.get("start_timestamp").and_then(time);
    let referrer = map
        .get("request")
        .and_then(|request| request.get("headers"))
        .and_then(|headers| headers.get("Referer"))
        .and_then(Value::as_str)
        .filter(|referrer| !referrer.is_empty())
        .map(|referrer| text(referrer.to_owned(), MAX_URL));
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
    let sent_name = take_str(&mut map, "transaction");
    let trace = event.contexts.get("trace");
    // Where the name comes from, in `transaction_info`, and in the trace's data too
    // (`sentry.source` in SDK 8, `sentry.segment.name.source` in SDK 11).
    let source = map
        .get("transaction_info")
        .and_then(|info| info.get("source"))
        .or_else(|| {
            let data = trace?.get("data")?;
            data.get("sentry.source")
                .or_else(|| data.get("sentry.segment.name.source"))
        })
        .and_then(Value::as_str);
    let page_route = sent_name.as_deref().and_then(|name| route(name, source));
    let op = trace
        .and_then(|trace| trace.get("op"))
        .and_then(Value::as_str)
        .map(|op| short(op.to_owned()));
    let root_span = trace
        .and_then(|trace| trace.get("span_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    event.route = page_route;
    let name = sent_name.map_or_else(
        || {
            event
                .url
                .clone()
                .unwrap_or_else(|| "<unlabeled transaction>".into())
        },
        |name| text(name, MAX_URL),
    );
    map.remove("type");
    let mut events = Vec::new();
    if op.as_deref().is_some_and(|op| PAGE_OPS.contains(&op)) {
        let page = Page {
            url: event.url.clone(),
            route: event.route.clone(),
        };
        if let Some(span_id) = &root_span {
            pages.remember(context.project_id, span_id, &page);
        }
        let mut view = event.clone();
        view.event_id = derived_id(&format!("pageview|{}", event.event_id));
        view.timestamp = start.map_or(event.timestamp, |t| clamp(correct(t, facts), context));
        view.detail = Detail::Pageview {
            referrer,
            title: None,
        };
        view.contexts = Map::new();
        events.push(view);
    }
    let vitals = vitals(map.get("measurements"), &event);
    event.detail = Detail::Transaction {
        name,
        op,
        duration_ms,
    };
    event.sentry = rest(map);
    events.insert(0, event);
    events.extend(vitals);
    Ok(events)
}

/// The route in a transaction's or segment's name, unless the name is only the address's
/// path (source `url`: ids and all, one name per product page) or SDK 11's placeholder. A
/// name whose source the SDK does not say is taken as the SDK's name for the page.
fn route(name: &str, source: Option<&str>) -> Option<String> {
    let named = !name.is_empty() && source != Some("url") && !PLACEHOLDER_NAMES.contains(&name);
    named.then(|| text(name.to_owned(), MAX_URL))
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
        duration_ms: None,
        pages: None,
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
        duration_ms: None,
        pages: None,
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

/// A `span` item: a page view for each page load or navigation root span among its spans,
/// and the web vitals among them, each as a vital event with its page; the spans themselves
/// are not kept. SDK 8 sends one span (v1: INP, with `measurements` and the page's name in
/// `data.transaction`); SDK 10 and later stream every span (v2: `{"items": [...]}`), the
/// vitals as attributes (`browser.web_vital.lcp.value`), and send no transactions by default.
/// Only a root span has the page's address (`url.full`); the others name their root
/// (`sentry.segment.id`), found in the same item or in `pages`.
pub fn spans(
    payload: &[u8],
    facts: &EnvelopeFacts,
    context: &Context,
    pages: &Pages,
) -> Result<Vec<Event>, ItemError> {
    let map = object(payload)?;
    let spans: Vec<Span<'_>> = match map.get("items") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_object)
            .map(Span::new)
            .collect(),
        _ => vec![Span::new(&map)],
    };
    let mut events = Vec::new();
    // Roots first: SDKs send a root span after its children, in the same item.
    for root in spans.iter().filter(|span| span.is_page_root()) {
        let page = root.root_page();
        pages.remember(context.project_id, root.id(), &page);
        let when = root
            .time("start_timestamp")
            .map_or(context.received_at, |t| clamp(correct(t, facts), context));
        let mut view = root.event(
            derived_id(&format!("span-pageview|{}", root.id())),
            when,
            context,
            page,
        );
        view.detail = Detail::Pageview {
            referrer: None,
            title: None,
        };
        events.push(view);
    }
    for span in &spans {
        let values: Vec<(&str, VitalName, f64)> = VITALS
            .into_iter()
            .filter_map(|(key, name)| Some((key, name, span.vital(key)?)))
            .collect();
        if values.is_empty() {
            continue;
        }
        let page = if span.is_page_root() {
            span.root_page()
        } else {
            span.segment_id()
                .and_then(|segment| pages.find(context.project_id, segment))
                .unwrap_or_else(|| span.named_page())
        };
        let when = span
            .time("end_timestamp")
            .or_else(|| span.time("timestamp"))
            .map_or(context.received_at, |t| clamp(correct(t, facts), context));
        for (key, name, value) in values {
            let mut vital = span.event(
                derived_id(&format!("span-vital|{}|{key}", span.id())),
                when,
                context,
                page.clone(),
            );
            vital.detail = Detail::Vital {
                name,
                value,
                rating: name.rate(value),
                navigation_type: None,
                attribution: None,
            };
            events.push(vital);
        }
    }
    Ok(events)
}

/// One span of a `span` item, as SDK 8 (v1: plain values in `data`, `op`, `description`) or
/// SDK 10 and later (v2: `{"value": …, "type": …}` in `attributes`, `name`) send it.
struct Span<'a> {
    fields: &'a Map<String, Value>,
    attributes: Option<&'a Map<String, Value>>,
}

impl<'a> Span<'a> {
    fn new(fields: &'a Map<String, Value>) -> Self {
        Self {
            fields,
            attributes: fields.get("attributes").and_then(Value::as_object),
        }
    }

    fn attribute(&self, key: &str) -> Option<&'a Value> {
        match self.attributes {
            Some(attributes) => attributes.get(key)?.get("value"),
            None => self.fields.get("data")?.get(key),
        }
    }

    fn attribute_str(&self, key: &str) -> Option<&'a str> {
        self.attribute(key).and_then(Value::as_str)
    }

    fn field_str(&self, key: &str) -> Option<&'a str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    fn id(&self) -> &'a str {
        self.field_str("span_id").unwrap_or_default()
    }

    fn time(&self, key: &str) -> Option<DateTime<Utc>> {
        self.fields.get(key).and_then(time)
    }

    fn op(&self) -> Option<&'a str> {
        self.attribute_str("sentry.op")
            .or_else(|| self.field_str("op"))
    }

    /// The root span of a page load or navigation (a v2 span says whether it is a root).
    fn is_page_root(&self) -> bool {
        let root = self.fields.get("is_segment").and_then(Value::as_bool) != Some(false);
        root && self.op().is_some_and(|op| PAGE_OPS.contains(&op))
    }

    /// The root span this span belongs to.
    fn segment_id(&self) -> Option<&'a str> {
        self.attribute_str("sentry.segment.id")
            .or_else(|| self.attribute_str("sentry.pageload.span_id"))
            .or_else(|| self.field_str("segment_id"))
    }

    /// A root span's page: its address, and its name if a router gave it.
    fn root_page(&self) -> Page {
        let name = self
            .attribute_str("sentry.segment.name")
            .or_else(|| self.field_str("name"))
            .or_else(|| self.field_str("description"));
        let source = self
            .attribute_str("sentry.segment.name.source")
            .or_else(|| self.attribute_str("sentry.source"));
        Page {
            url: self
                .attribute_str("url.full")
                .map(|url| text(url.to_owned(), MAX_URL)),
            route: name.and_then(|name| route(name, source)),
        }
    }

    /// The page as a span that is not a root names it: only by its root's name (SDK 8's
    /// INP span: `transaction`), whose source it does not say.
    fn named_page(&self) -> Page {
        let name = ["sentry.segment.name", "sentry.transaction", "transaction"]
            .into_iter()
            .find_map(|key| self.attribute_str(key));
        Page {
            url: None,
            route: name.and_then(|name| route(name, None)),
        }
    }

    /// A web vital's value (`lcp`, `inp`, …), if the span has a valid one.
    fn vital(&self, key: &str) -> Option<f64> {
        self.attribute(&format!("browser.web_vital.{key}.value"))
            .or_else(|| self.fields.get("measurements")?.get(key)?.get("value"))
            .and_then(Value::as_f64)
            .filter(|value| value.is_finite() && *value >= 0.0)
    }

    /// An event of this span, on `page`, with the release, environment and user it names.
    fn event(&self, id: EventId, when: DateTime<Utc>, context: &Context, page: Page) -> Event {
        let text_attribute = |keys: &[&str]| {
            keys.iter()
                .find_map(|key| self.attribute_str(key))
                .map(|value| short(value.to_owned()))
        };
        let mut event = blank(id, when, context);
        event.release = text_attribute(&["sentry.release", "release"]);
        event.environment = text_attribute(&["sentry.environment", "environment"]);
        let user = User {
            id: text_attribute(&["user.id"]),
            email: text_attribute(&["user.email"]),
            ..User::default()
        };
        event.user = (user.id.is_some() || user.email.is_some()).then_some(user);
        event.url = page.url;
        event.route = page.route;
        event
    }
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
                navigation_type: None,
                attribution: None,
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
