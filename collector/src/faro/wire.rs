//! The body `@grafana/faro-web-sdk` 2.x posts, as typed as we use it.
//!
//! Written from the SDK's `TransportBody` (`packages/core/src/transports/types.ts`) and the
//! payload types of Grafana Alloy's `faro.receiver`, which decodes the same JSON: one `meta`
//! for the whole batch (the SDK sends the first item's), and arrays of `exceptions`, `logs`,
//! `measurements` and `events`, and OpenTelemetry `traces`. Fields we do not use are skipped
//! unread, so a newer SDK's additions never fail a batch; a field we use that has the wrong
//! JSON type is a 400 naming it, as Alloy's decoder answers.
//!
//! Bounded as it is read: every array keeps at most [`MAX_ITEMS`] elements and only counts
//! the rest, so `{"events": [{}, {}, …]}` costs no more memory than [`MAX_ITEMS`] events;
//! spans are only counted, never kept.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, de::DeserializeOwned};

/// The most elements of one array that are kept; the rest are only counted. Far above what
/// the SDK batches (50 items by default), and above any `collector.max_batch` worth setting:
/// a request with more items than `max_batch` is refused whole anyway.
pub const MAX_ITEMS: usize = 1000;

/// A JSON array, kept up to [`MAX_ITEMS`] elements, and how many it had.
#[derive(Debug)]
pub struct Capped<T> {
    pub items: Vec<T>,
    pub count: usize,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            count: 0,
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Capped<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CappedVisitor<T>(PhantomData<T>);

        impl<'de, T: DeserializeOwned> Visitor<'de> for CappedVisitor<T> {
            type Value = Capped<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an array")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Capped<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while items.len() < MAX_ITEMS {
                    match seq.next_element()? {
                        Some(item) => items.push(item),
                        None => {
                            let count = items.len();
                            return Ok(Capped { items, count });
                        }
                    }
                }
                let mut count = items.len();
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(Capped { items, count })
            }
        }

        deserializer.deserialize_seq(CappedVisitor(PhantomData))
    }
}

/// What the transport posts.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Body {
    pub meta: Meta,
    pub exceptions: Capped<Exception>,
    pub logs: Capped<Log>,
    pub measurements: Capped<Measurement>,
    pub events: Capped<FaroEvent>,
    pub traces: Option<Traces>,
}

impl Body {
    /// Items that become events or are dropped one by one; spans are counted apart.
    pub fn item_count(&self) -> usize {
        self.exceptions.count + self.logs.count + self.measurements.count + self.events.count
    }
}

pub type Attributes = BTreeMap<String, String>;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Meta {
    pub sdk: Option<Sdk>,
    pub app: Option<App>,
    pub user: Option<MetaUser>,
    pub session: Option<Session>,
    pub page: Option<Page>,
    pub view: Option<View>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Sdk {
    pub name: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct App {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub release: Option<String>,
    pub version: Option<String>,
    pub environment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MetaUser {
    pub id: Option<String>,
    pub email: Option<String>,
    pub username: Option<String>,
    #[serde(rename = "fullName")]
    pub full_name: Option<String>,
    pub roles: Option<String>,
    pub hash: Option<String>,
    pub attributes: Option<Attributes>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Session {
    pub id: Option<String>,
    pub attributes: Option<Attributes>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Page {
    pub id: Option<String>,
    pub url: Option<String>,
    pub attributes: Option<Attributes>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct View {
    pub name: Option<String>,
}

/// `trace_id` and `span_id` of the active span, when the SDK's tracing is on.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TraceContext {
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Exception {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub value: Option<String>,
    pub timestamp: Option<String>,
    pub fatal: Option<bool>,
    /// The SDK's own hash of the error; kept, not used for grouping (ours follows source maps).
    pub fingerprint: Option<String>,
    pub stacktrace: Option<Stacktrace>,
    pub context: Option<Attributes>,
    pub trace: Option<TraceContext>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Stacktrace {
    pub frames: Capped<Frame>,
}

/// One frame, innermost first as the SDK parses `error.stack`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Frame {
    pub filename: Option<String>,
    pub function: Option<String>,
    pub lineno: Option<u64>,
    pub colno: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Log {
    pub message: Option<String>,
    /// `trace`, `debug`, `info`, `log`, `warn` or `error`.
    pub level: Option<String>,
    pub timestamp: Option<String>,
    pub context: Option<Attributes>,
    pub trace: Option<TraceContext>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Measurement {
    /// `web-vitals` for the SDK's vitals; anything for `pushMeasurement`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub values: BTreeMap<String, f64>,
    pub timestamp: Option<String>,
    pub context: Option<Attributes>,
    pub trace: Option<TraceContext>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FaroEvent {
    pub name: Option<String>,
    pub domain: Option<String>,
    pub attributes: Option<Attributes>,
    pub timestamp: Option<String>,
    pub trace: Option<TraceContext>,
}

/// OpenTelemetry spans (OTLP JSON), only counted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Traces {
    #[serde(rename = "resourceSpans")]
    resource_spans: Capped<ResourceSpans>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResourceSpans {
    #[serde(rename = "scopeSpans")]
    scope_spans: Capped<ScopeSpans>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ScopeSpans {
    spans: Capped<IgnoredAny>,
}

impl Traces {
    /// The spans of the kept resources and scopes.
    pub fn span_count(&self) -> usize {
        self.resource_spans
            .items
            .iter()
            .flat_map(|resource| &resource.scope_spans.items)
            .map(|scope| scope.spans.count)
            .sum()
    }
}
