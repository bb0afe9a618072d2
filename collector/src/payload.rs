//! The native wire format, parsed once into typed events.
//!
//! A body is one JSON event or a JSON array of them. Each is checked here, and only here:
//! unknown `type`s and invalid fields are rejected naming the field (`[3].value: …`), text
//! fields are truncated to bounded sizes, missing ids and timestamps are filled in. Fields we
//! do not know are ignored, so newer SDKs keep working against an older collector.
//!
//! A batch is read in two steps, so one bad event does not cost its neighbours: the array is
//! split into its events' raw JSON first (malformed JSON anywhere refuses the whole body),
//! then each event is parsed on its own; the invalid ones are [`Refused`] by index, the
//! others accepted.
//!
//! Anyone can send anything here, so parsing is bounded: serde_json's recursion limit (128)
//! turns deep nesting into an error instead of a stack overflow, a batch stops being collected
//! at `max_batch` events (the rest is only counted), and NUL characters are stripped from
//! every string we keep, `data` included, because PostgreSQL refuses them in `text` and
//! `jsonb`, which would make the event poison downstream.

use std::collections::BTreeMap;
use std::fmt;

use std::borrow::Cow;
use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeSeed, IgnoredAny, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use shared::event::{
    Breadcrumb, Client, Detail, Event, EventId, Level, ProcessingError, ProjectId, Rating, User,
    VitalName,
};

use crate::error::IngestError;
pub use crate::error::Refused;

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
/// A visitor id is an id, not text: SDKs send 32 hex digits.
pub const MAX_VISITOR_ID: usize = 64;
/// Breadcrumbs beyond this many are dropped, the oldest first: the last actions before an
/// error are the ones that explain it.
pub const MAX_BREADCRUMBS: usize = 100;
pub const MAX_BREADCRUMB_MESSAGE: usize = 1024;
/// A breadcrumb's `data`, as JSON; larger is dropped (and said so on the event).
pub const MAX_BREADCRUMB_DATA: usize = 2048;
/// An error's `extra`, as JSON; larger is dropped (and said so on the event).
pub const MAX_EXTRA: usize = 16 * 1024;
/// A vital's attribution names a few elements and timings; past this many entries the first
/// ones by key are kept.
pub const MAX_ATTRIBUTION: usize = 16;
/// The longest reason given for one refused event of a batch: reasons may quote the input.
pub const MAX_REFUSAL: usize = 512;
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
    Message,
    WhiteScreen,
    Session,
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
            "message" => EventType::Message,
            "white_screen" => EventType::WhiteScreen,
            "session" => EventType::Session,
            _ => {
                return Err(format!(
                    "unknown type {name:?}: expected error, resource_error, api_error, \
                     white_screen, vital, pageview, click, custom, message or session"
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
    visitor_id: Option<String>,
    route: Option<String>,
    // Type-specific fields.
    name: Option<String>,
    value: Option<f64>,
    rating: Option<Rating>,
    navigation_type: Option<String>,
    attribution: Option<Map<String, Value>>,
    target: Option<String>,
    tag_name: Option<String>,
    method: Option<String>,
    status: Option<WireStatus>,
    duration_ms: Option<f64>,
    referrer: Option<String>,
    title: Option<String>,
    selector: Option<String>,
    text: Option<String>,
    data: Option<Value>,
    level: Option<String>,
    mechanism: Option<String>,
    breadcrumbs: Option<WireBreadcrumbs>,
    extra: Option<Map<String, Value>>,
    empty_ratio: Option<f64>,
    points: Option<u32>,
    pages: Option<u64>,
    errors: Option<u64>,
}

/// `status`: an HTTP status for `api_error`, `ok` or `exited` for `session`. Read as either,
/// and checked against the type later; a number that is no HTTP status is a data error here.
#[derive(Debug)]
enum WireStatus {
    Code(u16),
    Name(String),
}

impl<'de> Deserialize<'de> for WireStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StatusVisitor)
    }
}

struct StatusVisitor;

impl Visitor<'_> for StatusVisitor {
    type Value = WireStatus;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an HTTP status code or a session status")
    }

    fn visit_u64<E: de::Error>(self, code: u64) -> Result<WireStatus, E> {
        u16::try_from(code)
            .map(WireStatus::Code)
            .map_err(|_| E::invalid_value(Unexpected::Unsigned(code), &self))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<WireStatus, E> {
        Ok(WireStatus::Name(name.to_owned()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "a breadcrumb (a JSON object)")]
struct WireBreadcrumb {
    timestamp: Option<f64>,
    category: Option<String>,
    message: Option<String>,
    level: Option<String>,
    data: Option<Map<String, Value>>,
}

/// The last [`MAX_BREADCRUMBS`] of an array of breadcrumbs, and how many came before them:
/// however long the array, no more than that many are held at once.
#[derive(Debug, Default)]
struct WireBreadcrumbs {
    kept: VecDeque<WireBreadcrumb>,
    dropped: usize,
}

impl<'de> Deserialize<'de> for WireBreadcrumbs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(BreadcrumbsVisitor)
    }
}

struct BreadcrumbsVisitor;

impl<'de> Visitor<'de> for BreadcrumbsVisitor {
    type Value = WireBreadcrumbs;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of breadcrumbs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireBreadcrumbs, A::Error> {
        let mut crumbs = WireBreadcrumbs::default();
        while let Some(crumb) = seq.next_element()? {
            crumbs.kept.push_back(crumb);
            if crumbs.kept.len() > MAX_BREADCRUMBS {
                crumbs.kept.pop_front();
                crumbs.dropped += 1;
            }
        }
        Ok(crumbs)
    }
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

/// What a body held: the events accepted, in order, and the events of a batch that were
/// not, by index.
#[derive(Debug)]
pub struct Parsed {
    pub events: Vec<Event>,
    pub refused: Vec<Refused>,
}

/// Parses a request body into events. A single event is accepted or refused; a batch's
/// events each on their own, and only a batch whose every event is invalid is refused.
pub fn parse(body: &[u8], context: &Context) -> Result<Parsed, IngestError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(IngestError::MalformedJson("empty body".into())),
        Some(b'[') => batch(body, context),
        Some(b'{') => {
            let wire: WireEvent = deserialize(body, std::marker::PhantomData)?;
            let event = wire.into_event(context).map_err(|(field, reason)| {
                IngestError::InvalidEvent(format!("{field}: {reason}"))
            })?;
            Ok(Parsed {
                events: vec![event],
                refused: Vec::new(),
            })
        }
        Some(_) => {
            // Valid JSON of the wrong shape (`42`, `"x"`, `null`) is told apart from garbage.
            deserialize(body, std::marker::PhantomData::<IgnoredAny>)?;
            Err(IngestError::InvalidEvent(
                "the body must be an event (a JSON object) or an array of events".into(),
            ))
        }
    }
}

/// A JSON array of events: split into each event's JSON (a syntax error anywhere refuses the
/// body), then each event parsed on its own.
fn batch(body: &[u8], context: &Context) -> Result<Parsed, IngestError> {
    let max = context.max_batch;
    let too_many = |count| IngestError::TooManyEvents { count, max };
    // Nearly every batch reads as events at once, as it always did, at no extra cost; only
    // one that does not is split into its events' JSON, to tell the bad ones from the others.
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let at_once = Batch::<WireEvent>::new(max)
        .deserialize(&mut deserializer)
        .ok()
        .filter(|_| deserializer.end().is_ok());
    let events: Vec<Result<Event, String>> = match at_once {
        Some(Collected::Events(wire)) => wire
            .into_iter()
            .map(|wire| checked(wire, context))
            .collect(),
        Some(Collected::TooMany(count)) => return Err(too_many(count)),
        None => match deserialize(body, Batch::<&RawValue>::new(max))? {
            Collected::Events(raw) => raw.into_iter().map(|raw| event(raw, context)).collect(),
            Collected::TooMany(count) => return Err(too_many(count)),
        },
    };
    if events.is_empty() {
        return Err(IngestError::EmptyBatch);
    }
    let mut parsed = Parsed {
        events: Vec::with_capacity(events.len()),
        refused: Vec::new(),
    };
    for (index, event) in events.into_iter().enumerate() {
        match event {
            Ok(event) => parsed.events.push(event),
            Err(reason) => parsed.refused.push(Refused {
                index,
                error: bounded(format!("[{index}]{reason}")),
            }),
        }
    }
    if parsed.events.is_empty() {
        return Err(IngestError::EveryEventRefused(parsed.refused));
    }
    Ok(parsed)
}

/// An event of a batch, checked; the reason it is invalid, as the path after its index.
fn checked(wire: WireEvent, context: &Context) -> Result<Event, String> {
    wire.into_event(context)
        .map_err(|(field, reason)| format!(".{field}: {reason}"))
}

/// One event of a batch, from its JSON; the reason it is invalid, as the path after its index
/// (`.value: must be …`, or `: invalid type …` for the event itself).
fn event(raw: &RawValue, context: &Context) -> Result<Event, String> {
    let json = raw.get();
    // Read without tracking the path, which copies every key as it goes by; an event that
    // fails is read again, tracking it, for the error.
    let wire = match WireEvent::deserialize(&mut serde_json::Deserializer::from_str(json)) {
        Ok(wire) => wire,
        Err(_) => {
            let mut track = serde_path_to_error::Track::new();
            let mut deserializer = serde_json::Deserializer::from_str(json);
            let error = match WireEvent::deserialize(serde_path_to_error::Deserializer::new(
                &mut deserializer,
                &mut track,
            )) {
                Err(error) => error.to_string(),
                Ok(_) => "unreadable".to_owned(),
            };
            let path = track.path().to_string();
            return Err(if path == "." {
                format!(": {error}")
            } else {
                format!(".{}: {error}", text(path, MAX_ERROR_PATH))
            });
        }
    };
    checked(wire, context)
}

/// A reason as answered: at most [`MAX_REFUSAL`] bytes.
fn bounded(mut reason: String) -> String {
    if reason.len() > MAX_REFUSAL {
        let mut cut = MAX_REFUSAL - '…'.len_utf8();
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
    }
    reason
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
        .map_err(|inner| json_error(track.path().to_string(), inner))?;
    deserializer
        .end()
        .map_err(|error| IngestError::MalformedJson(error.to_string()))?;
    Ok(value)
}

/// A body the parser refused, as the answer that says where: the field of a data error, and
/// for a syntax error the event of a batch it is in (`path`, cut to a bounded length). The
/// root's path is "."; say nothing rather than that.
pub(crate) fn json_error(mut path: String, inner: serde_json::Error) -> IngestError {
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
}

/// A JSON array of events, collected up to `max`: past that the rest is only counted, so a
/// body of 60,000 tiny events costs no more memory than one of `max`. Each event is read as
/// a `T`: an event, or its JSON (`&RawValue`, borrowed from the body).
struct Batch<T> {
    max: usize,
    element: std::marker::PhantomData<T>,
}

impl<T> Batch<T> {
    fn new(max: usize) -> Self {
        Self {
            max,
            element: std::marker::PhantomData,
        }
    }
}

// By hand: derived, they would require `T: Clone`, and an event is not.
impl<T> Clone for Batch<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Batch<T> {}

enum Collected<T> {
    Events(Vec<T>),
    TooMany(usize),
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Batch<T> {
    type Value = Collected<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Collected<T>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Batch<T> {
    type Value = Collected<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Collected<T>, A::Error> {
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

/// The field that is invalid (`value`, `breadcrumbs[2].level`) and why.
type FieldError = (Cow<'static, str>, String);

fn invalid(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> FieldError {
    (field.into(), reason.into())
}

impl WireEvent {
    fn into_event(self, context: &Context) -> Result<Event, FieldError> {
        let event_id = match self.event_id.as_deref() {
            None => EventId::new_random(),
            Some(id) => id.parse::<EventId>().map_err(|_| {
                invalid(
                    "event_id",
                    "must be a UUID (32 hex digits, dashes optional)",
                )
            })?,
        };
        let timestamp = match self.timestamp {
            None => context.received_at,
            Some(ms) => timestamp(ms, context.received_at)?,
        };
        let url = self.url.map(|u| text(u, MAX_URL));
        let route = self.route.map(|r| text(r, MAX_URL));
        let mut message = self.message.map(|m| text(m, MAX_MESSAGE));
        let stack = self.stack.map(|s| text(s, MAX_STACK));
        let target = self.target.map(|t| text(t, MAX_URL));
        let tag_name = self.tag_name.map(short);
        let method = self.method.map(|m| short(m).to_ascii_uppercase());
        let name = self.name.map(short);
        let selector = self.selector.map(|s| text(s, MAX_URL));
        let mut level = None;
        let mut processing_errors = Vec::new();
        let (mut mechanism, mut breadcrumbs, mut extra) = (None, Vec::new(), Map::new());

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
                    return Err(invalid("message", "an error needs a message or a stack"));
                }
                mechanism = self.mechanism.map(short);
                if let Some(crumbs) = self.breadcrumbs {
                    breadcrumbs = breadcrumbs_of(crumbs, &mut processing_errors)?;
                }
                if let Some(sent) = self.extra {
                    extra = bounded_json(sent, "extra", MAX_EXTRA, &mut processing_errors);
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
                Detail::ResourceError {
                    target,
                    tag_name,
                    selector,
                }
            }
            EventType::ApiError => {
                let target = required(target, "target", "api_error")?;
                let duration_ms = self
                    .duration_ms
                    .map(|d| non_negative(d, "duration_ms"))
                    .transpose()?;
                let status = match self.status {
                    None => None,
                    Some(WireStatus::Code(code)) => Some(code),
                    Some(WireStatus::Name(_)) => {
                        return Err(invalid(
                            "status",
                            "must be an HTTP status code (a number) for api_error",
                        ));
                    }
                };
                message.get_or_insert_with(|| {
                    let method = method.as_deref().unwrap_or("GET");
                    match status {
                        Some(status) => format!("{method} {target} failed with {status}"),
                        None => format!("{method} {target} failed without a response"),
                    }
                });
                Detail::ApiError {
                    target,
                    method,
                    status,
                    duration_ms,
                }
            }
            EventType::WhiteScreen => {
                let empty_ratio = self
                    .empty_ratio
                    .ok_or_else(|| invalid("empty_ratio", "required for white_screen"))?;
                if !(0.0..=1.0).contains(&empty_ratio) {
                    return Err(invalid("empty_ratio", "must be between 0 and 1"));
                }
                message.get_or_insert_with(|| {
                    let page = route.as_deref().filter(|r| !r.trim().is_empty());
                    match page.or_else(|| url.as_deref().map(path_of)) {
                        Some(page) => format!("White screen on {page}"),
                        None => "White screen".to_owned(),
                    }
                });
                Detail::WhiteScreen {
                    empty_ratio,
                    points: self.points,
                }
            }
            EventType::Vital => {
                let name = required(name, "name", "vital")?;
                let name = vital_name(&name)?;
                let value = self
                    .value
                    .ok_or_else(|| invalid("value", "required for a vital"))?;
                let value = non_negative(value, "value")?;
                let rating = self.rating.unwrap_or_else(|| name.rate(value));
                Detail::Vital {
                    name,
                    value,
                    rating,
                    navigation_type: self.navigation_type.map(short),
                    attribution: self.attribution.map(attribution).transpose()?,
                }
            }
            EventType::Pageview => Detail::Pageview {
                referrer: self.referrer.map(|r| text(r, MAX_URL)),
                title: self.title.map(short),
            },
            EventType::Click => Detail::Click {
                selector,
                text: self.text.map(short),
            },
            EventType::Custom => {
                let name = required(name, "name", "custom")?;
                if name.is_empty() {
                    return Err(invalid("name", "must not be empty"));
                }
                let mut data = self.data;
                if let Some(data) = &mut data {
                    strip_nul(data);
                }
                Detail::Custom { name, data }
            }
            EventType::Message => {
                if message.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid("message", "required for message"));
                }
                // As a Sentry SDK's message: below error it is a log line, at error or
                // fatal an error, grouped into an issue by its text.
                let parsed = match self.level.as_deref() {
                    None => Level::Info,
                    Some(name) => level_of(name).map_err(|reason| invalid("level", reason))?,
                };
                level = Some(parsed);
                if parsed.is_error() {
                    Detail::Error {}
                } else {
                    Detail::Message {}
                }
            }
            EventType::Session => {
                let status = match self.status {
                    Some(WireStatus::Name(name)) if name == "ok" || name == "exited" => name,
                    Some(_) => return Err(invalid("status", "must be \"ok\" or \"exited\"")),
                    None => return Err(invalid("status", "required for session")),
                };
                Detail::Session {
                    sid: self.session_id.clone().map(short),
                    status,
                    errors: self.errors.unwrap_or(0),
                    init: false,
                    duration_ms: self
                        .duration_ms
                        .map(|d| non_negative(d, "duration_ms"))
                        .transpose()?,
                    pages: self.pages,
                }
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
            url,
            route,
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
            visitor_id: self.visitor_id.map(|v| text(v, MAX_VISITOR_ID)),
            mechanism,
            breadcrumbs,
            extra,
            client: context.client.clone(),
            level,
            exceptions: Vec::new(),
            fingerprint: Vec::new(),
            contexts: Map::new(),
            sentry: Map::new(),
            processing_errors,
        })
    }
}

/// The breadcrumbs kept, bounded like the event's own fields; what was dropped is said on
/// the event rather than refusing the error it explains.
fn breadcrumbs_of(
    crumbs: WireBreadcrumbs,
    notes: &mut Vec<ProcessingError>,
) -> Result<Vec<Breadcrumb>, FieldError> {
    if crumbs.dropped > 0 {
        notes.push(ProcessingError {
            kind: "breadcrumbs_dropped".into(),
            detail: format!(
                "{} breadcrumbs sent; the last {MAX_BREADCRUMBS} kept",
                crumbs.dropped + crumbs.kept.len()
            ),
        });
    }
    crumbs
        .kept
        .into_iter()
        .enumerate()
        .map(|(at, crumb)| {
            let index = crumbs.dropped + at;
            let timestamp = crumb
                .timestamp
                .map(|ms| {
                    // A breadcrumb's time is the browser's: not clamped, only checked.
                    #[allow(clippy::cast_possible_truncation)]
                    let whole = ms as i64;
                    (ms.is_finite()
                        && ms >= 1.0
                        && DateTime::from_timestamp_millis(whole).is_some())
                    .then_some(whole)
                    .ok_or_else(|| {
                        invalid(
                            format!("breadcrumbs[{index}].timestamp"),
                            "must be a positive number of milliseconds since the Unix epoch",
                        )
                    })
                })
                .transpose()?;
            let level = crumb
                .level
                .as_deref()
                .map(|name| {
                    level_of(name)
                        .map_err(|reason| invalid(format!("breadcrumbs[{index}].level"), reason))
                })
                .transpose()?;
            let data = crumb.data.map(|data| {
                bounded_json(
                    data,
                    &format!("breadcrumbs[{index}].data"),
                    MAX_BREADCRUMB_DATA,
                    notes,
                )
            });
            Ok(Breadcrumb {
                timestamp,
                category: crumb.category.map(short),
                message: crumb.message.map(|m| text(m, MAX_BREADCRUMB_MESSAGE)),
                level,
                data: data.filter(|data| !data.is_empty()),
            })
        })
        .collect()
}

/// A JSON object as kept: without NUL characters, and dropped (said on the event) when its
/// JSON is over `max` bytes, since JSON cannot be cut like text.
fn bounded_json(
    mut object: Map<String, Value>,
    field: &str,
    max: usize,
    notes: &mut Vec<ProcessingError>,
) -> Map<String, Value> {
    let size = json_size(&object);
    if size > max {
        notes.push(ProcessingError {
            kind: "too_large".into(),
            detail: format!("{field} was {size} bytes of JSON, over the {max} kept: dropped"),
        });
        return Map::new();
    }
    let mut value = Value::Object(std::mem::take(&mut object));
    strip_nul(&mut value);
    match value {
        Value::Object(object) => object,
        _ => Map::new(),
    }
}

/// The length of `object` as JSON, counted without writing it anywhere.
fn json_size(object: &Map<String, Value>) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a map of JSON values to a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, object);
    count.0
}

/// A vital's attribution: a few entries of short strings, numbers or booleans (`null` is
/// the same as absent); anything nested is refused, naming the key.
fn attribution(sent: Map<String, Value>) -> Result<Map<String, Value>, FieldError> {
    let mut kept = Map::new();
    for (key, value) in sent {
        let value = match value {
            Value::Null => continue,
            Value::String(text_value) => Value::String(text(text_value, MAX_URL)),
            scalar @ (Value::Number(_) | Value::Bool(_)) => scalar,
            Value::Array(_) | Value::Object(_) => {
                return Err(invalid(
                    format!("attribution.{}", text(key, MAX_TAG_KEY)),
                    "must be a string, a number or a boolean",
                ));
            }
        };
        if kept.len() < MAX_ATTRIBUTION {
            kept.insert(text(key, MAX_TAG_KEY), value);
        }
    }
    Ok(kept)
}

/// A level by name, as Sentry SDKs spell them.
fn level_of(name: &str) -> Result<Level, String> {
    Level::parse(name).ok_or_else(|| {
        format!(
            "{:?} is not a level (expected fatal, error, warning, info or debug)",
            text(name.to_owned(), MAX_SHORT)
        )
    })
}

/// The path of a URL, without its query or fragment.
fn path_of(url: &str) -> &str {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => url,
    }
}

fn required(value: Option<String>, field: &'static str, kind: &str) -> Result<String, FieldError> {
    value.ok_or_else(|| invalid(field, format!("required for {kind}")))
}

fn non_negative(value: f64, field: &'static str) -> Result<f64, FieldError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(invalid(field, "must be a non-negative number"))
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
            return Err(invalid(
                "name",
                format!("{name:?} is not a web vital (expected LCP, INP, CLS, FCP or TTFB)"),
            ));
        }
    })
}

/// Milliseconds since the epoch; a timestamp from a browser clock running ahead of ours is
/// replaced by our receive time, so events never appear to come from the future.
fn timestamp(ms: f64, received_at: DateTime<Utc>) -> Result<DateTime<Utc>, FieldError> {
    let refused = || {
        invalid(
            "timestamp",
            "must be a positive number of milliseconds since the Unix epoch",
        )
    };
    // Below 1 ms it would be the epoch itself: a zero, not a time.
    if !ms.is_finite() || ms < 1.0 {
        return Err(refused());
    }
    #[allow(clippy::cast_precision_loss)]
    let latest = (received_at.timestamp_millis() + MAX_CLOCK_AHEAD_MS) as f64;
    if ms > latest {
        return Ok(received_at);
    }
    #[allow(clippy::cast_possible_truncation)]
    DateTime::from_timestamp_millis(ms as i64).ok_or_else(refused)
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
        let parsed = parse(body.as_bytes(), &context())?;
        assert!(parsed.refused.is_empty(), "{:?}", parsed.refused);
        Ok(parsed.events)
    }

    /// The reasons the events of a batch were refused, by index, and the events accepted.
    fn partly(body: &str) -> (Vec<Event>, Vec<(usize, String)>) {
        let context = Context {
            max_batch: 10,
            ..context()
        };
        let parsed = parse(body.as_bytes(), &context).expect("some events accepted");
        let refused = parsed
            .refused
            .into_iter()
            .map(|refused| (refused.index, refused.error))
            .collect();
        (parsed.events, refused)
    }

    /// The one event of `body`, accepted.
    fn one(body: serde_json::Value) -> Event {
        let mut events = parse_str(&body.to_string()).expect("valid");
        assert_eq!(events.len(), 1);
        events.remove(0)
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
        let (events, refused) =
            partly(r#"[{"type":"error","message":"x"},{"type":"vital","name":"FID","value":1}]"#);
        assert_eq!(events.len(), 1);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, 1);
        assert!(
            refused[0]
                .1
                .starts_with("[1].name: \"FID\" is not a web vital"),
            "{refused:?}"
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
            Err(IngestError::MalformedJson(_) | IngestError::EveryEventRefused(_))
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
    fn a_batch_keeps_its_valid_events_and_names_the_invalid_ones() {
        let (events, refused) = partly(
            r#"[{"type":"click"},{"type":"vital","name":"LCP","value":-1},
                {"type":"teleport"},{"message":"x"},42,
                {"type":"error","message":"kept","event_id":"6f1c0a6e0b8e4f6e9a613c2b1a0f9e8d"}]"#,
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].message.as_deref(), Some("kept"));
        let indexes: Vec<usize> = refused.iter().map(|(index, _)| *index).collect();
        assert_eq!(indexes, [1, 2, 3, 4]);
        assert_eq!(refused[0].1, "[1].value: must be a non-negative number");
        assert!(
            refused[1]
                .1
                .starts_with("[2].type: unknown type \"teleport\""),
            "{refused:?}"
        );
        assert!(
            refused[2].1.starts_with("[3]: missing field `type`"),
            "{refused:?}"
        );
        assert!(
            refused[3]
                .1
                .starts_with("[4]: invalid type: integer `42`, expected an event"),
            "{refused:?}"
        );

        // Every event invalid: the batch is refused, each named.
        let error = parse_str(r#"[{"type":"vital"},{"type":"nope"}]"#).expect_err("refused");
        let IngestError::EveryEventRefused(refused) = &error else {
            panic!("{error:?}")
        };
        assert_eq!(refused.len(), 2);
        assert!(
            error
                .to_string()
                .contains("[0].name: required for vital; [1].type")
        );

        // A syntax error anywhere still refuses the whole body.
        assert!(matches!(
            parse_str(r#"[{"type":"click"},{"type":"click",}]"#),
            Err(IngestError::MalformedJson(_))
        ));
        // A reason quoting a huge input is bounded.
        let huge = format!(
            r#"[{{"type":"click"}},{{"type":"{}"}}]"#,
            "x".repeat(100_000)
        );
        let (_, refused) = partly(&huge);
        assert!(refused[0].1.len() <= MAX_REFUSAL, "{}", refused[0].1.len());
    }

    #[test]
    fn every_event_takes_visitor_and_route() {
        let event = one(serde_json::json!({
            "type": "pageview", "url": "https://shop.example/p/12", "route": "/p/:id",
            "visitor_id": "7c9e6679742540de944be07fc1f90ae7", "title": "Product"
        }));
        assert_eq!(event.route.as_deref(), Some("/p/:id"));
        assert_eq!(
            event.visitor_id.as_deref(),
            Some("7c9e6679742540de944be07fc1f90ae7")
        );
        let event = one(serde_json::json!({"type": "click", "visitor_id": "v".repeat(1000)}));
        let visitor = event.visitor_id.expect("kept");
        assert!(visitor.len() <= MAX_VISITOR_ID && visitor.ends_with(TRUNCATED));
        assert!(
            error_text(r#"{"type":"click","visitor_id":7}"#).contains("visitor_id: invalid type")
        );
    }

    #[test]
    fn errors_keep_mechanism_breadcrumbs_and_extra_within_bounds() {
        let event = one(serde_json::json!({
            "type": "error", "message": "TypeError: x", "mechanism": "onerror",
            "extra": {"componentStack": "at Cart\u{0}"},
            "breadcrumbs": [
                {"timestamp": 1_749_999_999_000_i64, "category": "click", "message": "button#pay"},
                {"timestamp": 1_749_999_999_500.5, "category": "fetch", "message": "GET /api/cart",
                 "level": "error", "data": {"status": 500, "k\u{0}": "v"}},
                {"category": "custom"}
            ]
        }));
        assert_eq!(event.mechanism.as_deref(), Some("onerror"));
        assert_eq!(event.extra["componentStack"], "at Cart");
        assert_eq!(event.breadcrumbs.len(), 3);
        assert_eq!(event.breadcrumbs[1].timestamp, Some(1_749_999_999_500));
        assert_eq!(event.breadcrumbs[1].level, Some(Level::Error));
        assert_eq!(
            event.breadcrumbs[1].data.as_ref().map(|d| d["k"].clone()),
            Some("v".into())
        );
        assert!(event.processing_errors.is_empty());

        // Past the limits: the oldest breadcrumbs, an oversize `extra` and breadcrumb `data`
        // are dropped and said so; long text is cut.
        let crumbs: Vec<_> = (0..MAX_BREADCRUMBS + 20)
            .map(|i| serde_json::json!({"message": format!("{i} {}", "m".repeat(5000))}))
            .collect();
        let mut crumbs = crumbs;
        crumbs.push(serde_json::json!({"data": {"big": "d".repeat(MAX_BREADCRUMB_DATA)}}));
        let event = one(serde_json::json!({
            "type": "error", "message": "x", "breadcrumbs": crumbs,
            "extra": {"big": "e".repeat(MAX_EXTRA)}
        }));
        assert_eq!(event.breadcrumbs.len(), MAX_BREADCRUMBS);
        let first = event.breadcrumbs[0].message.as_deref().expect("message");
        assert!(first.starts_with("21 ") && first.len() <= MAX_BREADCRUMB_MESSAGE);
        assert_eq!(event.breadcrumbs[MAX_BREADCRUMBS - 1].data, None);
        assert!(event.extra.is_empty());
        let kinds: Vec<&str> = event
            .processing_errors
            .iter()
            .map(|e| e.kind.as_str())
            .collect();
        assert_eq!(kinds, ["breadcrumbs_dropped", "too_large", "too_large"]);
        assert!(
            event.processing_errors[1]
                .detail
                .starts_with("breadcrumbs[120].data")
        );
        assert!(event.processing_errors[2].detail.starts_with("extra was"));

        // Wrong shapes are refused, naming the field.
        assert!(
            error_text(r#"{"type":"error","message":"x","extra":[1]}"#)
                .contains("extra: invalid type: sequence")
        );
        assert!(
            error_text(r#"{"type":"error","message":"x","breadcrumbs":{}}"#)
                .contains("breadcrumbs: invalid type: map")
        );
        assert!(
            error_text(r#"{"type":"error","message":"x","breadcrumbs":[{},"x"]}"#)
                .contains("breadcrumbs[1]: invalid type: string")
        );
        assert!(
            error_text(r#"{"type":"error","message":"x","breadcrumbs":[{},{"level":"loud"}]}"#)
                .contains("breadcrumbs[1].level: \"loud\" is not a level")
        );
        assert!(
            error_text(r#"{"type":"error","message":"x","breadcrumbs":[{"timestamp":-5}]}"#)
                .contains("breadcrumbs[0].timestamp: must be a positive number")
        );
    }

    #[test]
    fn messages_are_logs_below_error_and_errors_at_it() {
        let info = one(serde_json::json!({"type": "message", "message": "cache warmed"}));
        assert_eq!(info.routing_key(), RoutingKey::LogMessage);
        assert_eq!(info.level, Some(Level::Info));
        let warning = one(serde_json::json!({"type": "message", "message": "m", "level": "warn"}));
        assert_eq!(warning.level, Some(Level::Warning));
        let error =
            one(serde_json::json!({"type": "message", "message": "paid twice", "level": "error"}));
        assert_eq!(error.routing_key(), RoutingKey::ErrorJs);
        assert_eq!(error.level, Some(Level::Error));
        assert!(error_text(r#"{"type":"message"}"#).contains("message: required for message"));
        assert!(
            error_text(r#"{"type":"message","message":"m","level":"loud"}"#)
                .contains("level: \"loud\" is not a level")
        );
    }

    #[test]
    fn white_screens_need_a_ratio_and_name_their_page() {
        let event = one(serde_json::json!({
            "type": "white_screen", "empty_ratio": 0.95, "points": 18,
            "url": "https://shop.example/checkout?step=2", "route": "/checkout"
        }));
        assert_eq!(event.routing_key(), RoutingKey::ErrorWhiteScreen);
        assert_eq!(
            event.detail,
            Detail::WhiteScreen {
                empty_ratio: 0.95,
                points: Some(18)
            }
        );
        assert_eq!(event.message.as_deref(), Some("White screen on /checkout"));
        let by_url = one(serde_json::json!({
            "type": "white_screen", "empty_ratio": 1, "url": "https://shop.example/cart?x=1#y"
        }));
        assert_eq!(by_url.message.as_deref(), Some("White screen on /cart"));
        let said =
            one(serde_json::json!({"type": "white_screen", "empty_ratio": 1, "message": "blank"}));
        assert_eq!(said.message.as_deref(), Some("blank"));
        let nowhere = one(serde_json::json!({"type": "white_screen", "empty_ratio": 0}));
        assert_eq!(nowhere.message.as_deref(), Some("White screen"));

        assert!(error_text(r#"{"type":"white_screen"}"#).contains("empty_ratio: required"));
        for ratio in ["1.01", "-0.1"] {
            let body = format!(r#"{{"type":"white_screen","empty_ratio":{ratio}}}"#);
            assert!(error_text(&body).contains("empty_ratio: must be between 0 and 1"));
        }
        assert!(
            error_text(r#"{"type":"white_screen","empty_ratio":1,"points":1.5}"#)
                .contains("points: invalid type: floating point")
        );
        assert!(
            error_text(r#"{"type":"white_screen","empty_ratio":1,"points":-1}"#)
                .contains("points: invalid value")
        );
    }

    #[test]
    fn vitals_keep_navigation_type_and_a_bounded_attribution() {
        let event = one(serde_json::json!({
            "type": "vital", "name": "INP", "value": 320, "navigation_type": "navigate",
            "attribution": {"target": "button#pay", "input_delay": 12.5, "url": null,
                            "long": "s".repeat(10_000)}
        }));
        let Detail::Vital {
            navigation_type,
            attribution: Some(attribution),
            ..
        } = &event.detail
        else {
            panic!("{:?}", event.detail)
        };
        assert_eq!(navigation_type.as_deref(), Some("navigate"));
        assert_eq!(attribution["target"], "button#pay");
        assert_eq!(attribution["input_delay"], 12.5);
        assert!(!attribution.contains_key("url"));
        assert!(
            attribution["long"]
                .as_str()
                .is_some_and(|s| s.len() <= MAX_URL)
        );

        let many: serde_json::Map<String, serde_json::Value> = (0..100)
            .map(|i| (format!("k{i:03}"), serde_json::Value::from(i)))
            .collect();
        let event = one(
            serde_json::json!({"type": "vital", "name": "CLS", "value": 0.1, "attribution": many}),
        );
        let Detail::Vital {
            attribution: Some(attribution),
            ..
        } = &event.detail
        else {
            panic!("{:?}", event.detail)
        };
        assert_eq!(attribution.len(), MAX_ATTRIBUTION);
        assert!(
            error_text(r#"{"type":"vital","name":"LCP","value":1,"attribution":{"el":{"a":1}}}"#)
                .contains("attribution.el: must be a string, a number or a boolean")
        );
        assert!(
            error_text(r#"{"type":"vital","name":"LCP","value":1,"attribution":"x"}"#)
                .contains("attribution: invalid type: string")
        );
    }

    #[test]
    fn resource_errors_keep_their_selector() {
        let event = one(serde_json::json!({
            "type": "resource_error", "target": "https://cdn/app.js", "tag_name": "script",
            "selector": "head > script#app"
        }));
        assert!(matches!(
            &event.detail,
            Detail::ResourceError { selector: Some(selector), .. } if selector == "head > script#app"
        ));
    }

    #[test]
    fn sessions_carry_status_duration_pages_and_errors() {
        let event = one(serde_json::json!({
            "type": "session", "status": "exited", "duration_ms": 61_000, "pages": 6,
            "errors": 1, "session_id": "s1"
        }));
        assert_eq!(event.routing_key(), RoutingKey::BehaviorSession);
        assert_eq!(
            event.detail,
            Detail::Session {
                sid: Some("s1".into()),
                status: "exited".into(),
                errors: 1,
                init: false,
                duration_ms: Some(61_000.0),
                pages: Some(6),
            }
        );
        assert!(error_text(r#"{"type":"session"}"#).contains("status: required for session"));
        assert!(
            error_text(r#"{"type":"session","status":"crashed"}"#)
                .contains("status: must be \"ok\" or \"exited\"")
        );
        assert!(
            error_text(r#"{"type":"session","status":200}"#).contains("status: must be \"ok\"")
        );
        assert!(
            error_text(r#"{"type":"session","status":"ok","duration_ms":-1}"#)
                .contains("duration_ms: must be a non-negative number")
        );
        assert!(
            error_text(r#"{"type":"session","status":"ok","pages":-1}"#)
                .contains("pages: invalid value")
        );
        // An API error's status is a number.
        assert!(
            error_text(r#"{"type":"api_error","target":"/x","status":"ok"}"#)
                .contains("status: must be an HTTP status code")
        );
        assert!(
            error_text(r#"{"type":"api_error","target":"/x","status":70000}"#)
                .contains("status: invalid value: integer `70000`")
        );
    }

    #[test]
    fn the_stack_supplies_a_missing_message() {
        let events = parse_str(r#"{"type":"error","stack":"TypeError: x\n at f (a.js:1:1)"}"#)
            .expect("valid");
        assert_eq!(events[0].message.as_deref(), Some("TypeError: x"));
    }
}
