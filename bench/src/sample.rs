//! The events the benchmark sends: a realistic ~1 KB JavaScript error with a stack trace.
//!
//! One [`shared::event::Event`] is the source of both shapes: the wire body a browser SDK
//! posts to the collector (without what the collector adds), and the message the collector
//! publishes (with it), which the bare publisher and the drain put on the queues directly.
//! Bodies are built before any timing starts, so the load generator only copies bytes.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use shared::event::{Client, Detail, Event, EventId, ProjectId, User, VitalName};

/// What a desktop Chrome sends; the collector copies it into every event it publishes.
pub const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

const STACK: &str = "TypeError: Cannot read properties of undefined (reading 'unitPrice')
    at lineTotal (https://shop.example/static/js/checkout.4f9c2a.js:1:48213)
    at Array.map (<anonymous>)
    at CartSummary (https://shop.example/static/js/checkout.4f9c2a.js:1:49102)
    at renderWithHooks (https://shop.example/static/js/vendor.91be07.js:2:118734)
    at updateFunctionComponent (https://shop.example/static/js/vendor.91be07.js:2:121876)
    at beginWork (https://shop.example/static/js/vendor.91be07.js:2:135402)
    at performUnitOfWork (https://shop.example/static/js/vendor.91be07.js:2:170988)";

/// A JavaScript error as a React checkout page would report it.
pub fn error_event(project: ProjectId, event_id: EventId, at: DateTime<Utc>) -> Event {
    let tags = [
        ("browser", "Chrome 126"),
        ("os", "Windows 10"),
        ("locale", "de-DE"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect::<BTreeMap<_, _>>();
    Event {
        url: Some("https://shop.example/checkout/payment?cart=8f3a2c&step=2".into()),
        message: Some(
            "TypeError: Cannot read properties of undefined (reading 'unitPrice')".into(),
        ),
        stack: Some(STACK.into()),
        release: Some("shop-web@4.12.0".into()),
        environment: Some("production".into()),
        user: Some(User {
            id: Some("u_1827364".into()),
            ..User::default()
        }),
        tags,
        session_id: Some(uuid::Uuid::new_v4().simple().to_string()),
        client: Client {
            ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            user_agent: Some(USER_AGENT.into()),
        },
        ..Event::new(event_id, project, at, at, Detail::Error {})
    }
}

/// A fresh event of the `variant`th of many distinct errors: another failing function (so
/// another fingerprint and issue) and another property in the message.
pub fn distinct_error(project: ProjectId, variant: usize) -> Event {
    let mut event = fresh_event(project);
    event.message = Some(format!(
        "TypeError: Cannot read properties of undefined (reading 'field{variant}')"
    ));
    event.stack = Some(
        STACK
            .replacen("'unitPrice'", &format!("'field{variant}'"), 1)
            .replacen("lineTotal", &format!("lineTotal{variant}"), 1),
    );
    event
}

/// The `n`th event of an analytics backlog: three in five page views, the rest web vitals
/// (LCP, INP, CLS in turn); a session every 5 events, a visitor every 10; half of the
/// traffic on one hot page, the rest over 200 pages; desktop Chrome and iPhone Safari.
pub fn analytics_event(project: ProjectId, n: usize) -> Event {
    let detail = match n % 5 {
        0..=2 => Detail::Pageview {
            referrer: n
                .is_multiple_of(7)
                .then(|| "https://news.example/story".to_owned()),
            title: Some("Shop".into()),
        },
        kind => {
            let (name, value) = match (n / 5 + kind) % 3 {
                0 => (VitalName::Lcp, 800.0 + (n * 7919 % 4000) as f64),
                1 => (VitalName::Inp, 40.0 + (n * 104_729 % 600) as f64),
                _ => (VitalName::Cls, (n * 31 % 300) as f64 / 1000.0),
            };
            Detail::Vital {
                name,
                value,
                rating: name.rate(value),
                navigation_type: Some("navigate".into()),
                attribution: None,
            }
        }
    };
    let page = if n.is_multiple_of(2) {
        "/".to_owned()
    } else {
        format!("/product/{}", n % 200)
    };
    let now = Utc::now();
    Event {
        url: Some(format!("https://shop.example{page}?utm_source=mail")),
        release: Some(format!("shop-web@4.{}.0", 10 + n % 3)),
        environment: Some("production".into()),
        session_id: Some(format!("s{}", n / 5)),
        visitor_id: Some(format!("v{}", n / 10)),
        client: Client {
            ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            user_agent: Some(
                if n.is_multiple_of(3) {
                    IPHONE
                } else {
                    USER_AGENT
                }
                .into(),
            ),
        },
        ..Event::new(EventId::new_random(), project, now, now, detail)
    }
}

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1";

/// A fresh event with a unique id, received now.
pub fn fresh_event(project: ProjectId) -> Event {
    error_event(project, EventId::new_random(), Utc::now())
}

/// The event as an SDK posts it: the fields the collector adds are not the browser's to send.
pub fn wire_json(event: &Event) -> serde_json::Value {
    let mut json = serde_json::to_value(event).unwrap_or_default();
    if let Some(fields) = json.as_object_mut() {
        for added in ["project_id", "received_at", "client"] {
            fields.remove(added);
        }
    }
    json
}

/// The event as the collector publishes it.
pub fn queued_body(event: &Event) -> Vec<u8> {
    serde_json::to_vec(event).unwrap_or_default()
}

/// One request of the load generator: its body and how many events it carries.
#[derive(Debug, Clone)]
pub struct RequestBody {
    pub bytes: Bytes,
    pub events: u64,
    pub gzip: bool,
}

impl RequestBody {
    pub fn single(event: &Event) -> Self {
        Self {
            bytes: Bytes::from(wire_json(event).to_string()),
            events: 1,
            gzip: false,
        }
    }

    pub fn batch(events: &[Event]) -> Self {
        let array: Vec<_> = events.iter().map(wire_json).collect();
        Self {
            bytes: Bytes::from(serde_json::Value::Array(array).to_string()),
            events: events.len() as u64,
            gzip: false,
        }
    }

    /// The same body, gzip'd as `CompressionStream("gzip")` in a browser would send it.
    pub fn gzipped(self) -> Self {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(&self.bytes);
        let bytes = encoder.finish().unwrap_or_default();
        Self {
            bytes: Bytes::from(bytes),
            events: self.events,
            gzip: true,
        }
    }
}

/// `count` distinct request bodies of `per_request` events each (one: a single event, not an
/// array). The load generator cycles through them; distinct ids keep the messages realistic,
/// and repeats after a cycle do not matter because nothing consumes during those scenarios.
pub fn request_pool(project: ProjectId, count: usize, per_request: usize) -> Vec<RequestBody> {
    (0..count)
        .map(|_| {
            let events: Vec<Event> = (0..per_request).map(|_| fresh_event(project)).collect();
            if per_request == 1 {
                RequestBody::single(&events[0])
            } else {
                RequestBody::batch(&events)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> ProjectId {
        ProjectId::new(1).expect("non-zero")
    }

    #[test]
    fn bodies_are_about_one_kilobyte() {
        let event = fresh_event(project());
        let wire = RequestBody::single(&event).bytes.len();
        let queued = queued_body(&event).len();
        assert!((900..=1100).contains(&wire), "wire body {wire} bytes");
        assert!(
            (1000..=1300).contains(&queued),
            "queued body {queued} bytes"
        );
    }

    #[test]
    fn distinct_errors_group_apart_and_copies_together() {
        let group = |variant| {
            shared::grouping::group_event(&distinct_error(project(), variant))
                .expect("an error groups")
                .fingerprint
        };
        assert_eq!(group(7), group(7));
        assert_ne!(group(7), group(8));
        let base = shared::grouping::group_event(&fresh_event(project())).expect("groups");
        assert_ne!(group(7), base.fingerprint);
    }

    #[test]
    fn wire_body_leaves_out_what_the_collector_adds() {
        let json = wire_json(&fresh_event(project()));
        assert_eq!(json["type"], "error");
        assert!(json.get("client").is_none());
        assert!(json.get("project_id").is_none());
        assert!(json["stack"].as_str().is_some_and(|s| s.contains("at ")));
    }

    #[test]
    // Decodes what the bench itself just compressed, not a request body (clippy.toml).
    #[allow(clippy::disallowed_types)]
    fn batches_hold_their_events_and_gzip_round_trips() {
        let pool = request_pool(project(), 2, 20);
        assert_eq!(pool.len(), 2);
        let batch = pool[0].clone();
        assert_eq!(batch.events, 20);
        let zipped = batch.clone().gzipped();
        assert!(zipped.gzip && zipped.bytes.len() < batch.bytes.len());
        let mut plain = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&zipped.bytes[..]),
            &mut plain,
        )
        .expect("valid gzip");
        assert_eq!(plain, batch.bytes);
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&plain).expect("json array");
        assert_eq!(parsed.len(), 20);
    }
}
