//! What the processor's tests share: a running processor, a test publisher, events to publish,
//! and a look into the database.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::Value;
use shared::config::Settings;
use shared::event::{Detail, Event, EventId, ProjectId};
use shared::publisher::{Outgoing, Publisher};
use shared::testing::spawned::Spawned;
use shared::testing::{ADMIN_TOKEN, TestEnv, eventually};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const WAIT: Duration = Duration::from_secs(30);
/// For the tests that move thousands of events.
pub const LONG_WAIT: Duration = Duration::from_secs(120);

/// A processor built from the test's settings, running in this process.
pub struct TestApp {
    pub port: u16,
    running: Spawned,
    http: reqwest::Client,
}

impl TestApp {
    pub async fn start(settings: &Settings) -> Self {
        if std::env::var_os("RUST_LOG").is_some() {
            shared::telemetry::init(&settings.log);
        }
        let shutdown = CancellationToken::new();
        let app = processor::Application::build(settings.clone(), shutdown.clone())
            .await
            .unwrap_or_else(|e| panic!("cannot build the processor: {e:#}"));
        let port = app.port();
        Self {
            port,
            running: Spawned::spawn("processor", port, shutdown, app.run_until_stopped()),
            http: http(),
        }
    }

    /// Started, and consuming.
    pub async fn ready(settings: &Settings) -> Self {
        let app = Self::start(settings).await;
        app.wait_ready().await;
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GET with the admin token (`Some`), another token, or none.
    pub async fn get_with(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GET with the admin token; the status and the body, which must be JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        json(self.get_with(path, Some(ADMIN_TOKEN)).await).await
    }

    /// The stored event, as the API returns it, or `None` on a 404.
    pub async fn event(&self, id: EventId) -> Option<Value> {
        match self.get(&format!("/api/projects/1/events/{id}")).await {
            (200, body) => Some(body),
            (404, _) => None,
            (status, body) => panic!("GET event {id}: {status} {body}"),
        }
    }

    /// Waits until every one of `ids` can be read back.
    pub async fn wait_for_events(&self, ids: &[EventId]) {
        eventually(
            &format!("{} events to be stored", ids.len()),
            WAIT,
            || async {
                for id in ids {
                    self.event(*id).await?;
                }
                Some(())
            },
        )
        .await;
    }

    /// One page of the listing: the events and the `next` cursor.
    pub async fn list(&self, query: &str) -> (Vec<Value>, Option<String>) {
        let (status, body) = self.get(&format!("/api/projects/1/events?{query}")).await;
        assert_eq!(status, 200, "list ?{query}: {body}");
        let events = body["events"]
            .as_array()
            .unwrap_or_else(|| panic!("no events array: {body}"))
            .clone();
        let next = match &body["next"] {
            Value::Null => None,
            Value::String(next) => Some(next.clone()),
            other => panic!("next is neither null nor a string: {other}"),
        };
        (events, next)
    }

    /// The value of one sample in `/metrics`, `name{labels}` spelled as exported; 0 if absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .filter_map(|line| line.rsplit_once(' '))
            .find(|(name, _)| *name == sample)
            .map(|(_, value)| value.parse().unwrap_or_else(|e| panic!("{sample}: {e}")))
            .unwrap_or(0.0)
    }

    pub async fn metrics(&self) -> String {
        let response = self.get_with("/metrics", None).await;
        assert_eq!(response.status(), 200);
        response.text().await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until `sample` in `/metrics` is `value`.
    pub async fn wait_for_metric(&self, sample: &str, value: f64) {
        eventually(&format!("{sample} to be {value}"), WAIT, || async {
            (self.metric(sample).await == value).then_some(())
        })
        .await;
    }

    pub async fn wait_ready(&self) {
        eventually("the processor to be ready", WAIT, || async {
            (self.get_with("/readyz", None).await.status() == 200).then_some(())
        })
        .await;
    }

    /// Cancels the token and waits for `run_until_stopped` to return `Ok`.
    pub async fn stop(self) {
        self.running.stop_within(WAIT).await;
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The status and the JSON body of a response.
pub async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_else(|e| panic!("{e}"));
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("a {status} whose body is not JSON ({e}): {text:?}"));
    (status, body)
}

pub async fn publisher(env: &TestEnv) -> Publisher {
    env.publisher().await
}

pub use shared::testing::outgoing;

/// A message on the events exchange that is not an event at all.
pub fn garbage(body: &[u8]) -> Outgoing {
    let marker = pageview(now());
    Outgoing {
        body: body.to_vec(),
        partition_key: None,
        ..outgoing(&marker)
    }
}

/// Publishes `events` in one call (so they travel, and are consumed, together) and waits
/// for the broker's confirms.
pub async fn publish(publisher: &Publisher, events: &[Event]) {
    let messages: Vec<Outgoing> = events.iter().map(outgoing).collect();
    publish_raw(publisher, &messages).await;
}

pub async fn publish_raw(publisher: &Publisher, messages: &[Outgoing]) {
    shared::testing::publish_confirmed(publisher, messages).await;
}

/// Publishes `events` 100 per call, four calls at a time.
pub async fn publish_many(publisher: &Publisher, events: &[Event]) {
    futures::stream::iter(events.chunks(100))
        .map(|chunk| publish(publisher, chunk))
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}

pub fn project(id: u32) -> ProjectId {
    ProjectId::new(id).unwrap_or_else(|| panic!("project id 0"))
}

/// Now, to the millisecond: what survives the trip through JSON.
pub fn now() -> DateTime<Utc> {
    at(Utc::now().timestamp_millis())
}

pub fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_else(|| panic!("{ms} out of range"))
}

/// An event of project 1 received at `received_at`, with the common fields set.
pub fn event(detail: Detail, received_at: DateTime<Utc>) -> Event {
    Event {
        url: Some("https://shop.example/cart".into()),
        release: Some("1.4.2".into()),
        environment: Some("production".into()),
        ..Event::new(
            EventId::new_random(),
            project(1),
            received_at - chrono::Duration::milliseconds(250),
            received_at,
            detail,
        )
    }
}

pub fn js_error(message: &str, received_at: DateTime<Utc>) -> Event {
    Event {
        message: Some(message.into()),
        stack: Some(format!(
            "Error: {message}\n    at checkout (app.js:10:5)\n    at main"
        )),
        ..event(Detail::Error {}, received_at)
    }
}

pub fn vital(received_at: DateTime<Utc>) -> Event {
    event(
        Detail::Vital {
            name: shared::event::VitalName::Lcp,
            value: 5000.0,
            rating: shared::event::Rating::Poor,
            navigation_type: None,
            attribution: None,
        },
        received_at,
    )
}

pub fn pageview(received_at: DateTime<Utc>) -> Event {
    event(
        Detail::Pageview {
            referrer: None,
            title: Some("Cart".into()),
        },
        received_at,
    )
}

/// `count` pageviews, received a millisecond apart from `start`.
pub fn pageviews(count: usize, start: DateTime<Utc>) -> Vec<Event> {
    (0..count)
        .map(|i| pageview(start + chrono::Duration::milliseconds(i as i64)))
        .collect()
}

pub fn ids(events: &[Event]) -> Vec<EventId> {
    events.iter().map(|event| event.event_id).collect()
}

/// The id of an event as the API returns it.
pub fn id_of(event: &Value) -> EventId {
    event["event_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no event_id in {event}"))
}

/// What the API should return for `event`: the event as published, plus its routing key,
/// with the API's id and times (`0b5c…2a19`, `2026-12-07T10:15:21.123Z`).
pub fn expected_json(event: &Event) -> Value {
    let mut expected = serde_json::to_value(event).unwrap_or_else(|e| panic!("{e}"));
    expected["routing_key"] = event.routing_key().as_str().into();
    expected["event_id"] = event.event_id.as_uuid().simple().to_string().into();
    expected["timestamp"] = api_time(event.timestamp).into();
    expected["received_at"] = api_time(event.received_at).into();
    expected
}

/// A time as the API writes it, spelled out here rather than by the code under test.
pub fn api_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The processor's database, looked at directly.
pub async fn database(env: &TestEnv) -> PgPool {
    PgPool::connect(env.settings.database.url.expose())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"))
}

/// Rows in `events`, and distinct event ids among them.
pub async fn row_counts(db: &PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM events")
        .fetch_one(db)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn stored_ids(db: &PgPool) -> HashSet<EventId> {
    let rows: Vec<(Uuid,)> = sqlx::query_as("SELECT event_id FROM events")
        .fetch_all(db)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    rows.into_iter()
        .map(|(id,)| EventId::from_uuid(id))
        .collect()
}

/// Waits until the table holds exactly `expected` (every id once, nothing else), then
/// until the processor's queue (or each of its partitions) is empty.
pub async fn wait_stored_exactly(
    env: &TestEnv,
    db: &PgPool,
    expected: &[EventId],
    limit: Duration,
) {
    let expected: HashSet<EventId> = expected.iter().copied().collect();
    eventually(
        &format!("{} events to be stored", expected.len()),
        limit,
        || async { (row_counts(db).await.0 >= expected.len() as i64).then_some(()) },
    )
    .await;
    let (rows, distinct) = row_counts(db).await;
    assert_eq!(rows, distinct, "an event was stored twice");
    assert_eq!(rows, expected.len() as i64, "unexpected rows");
    assert_eq!(stored_ids(db).await, expected);
    for queue in env.topology().processor_queues() {
        wait_queue_depth(env, &queue, 0).await;
    }
}

pub async fn wait_queue_depth(env: &TestEnv, queue: &str, depth: u32) {
    eventually(&format!("{queue} to hold {depth}"), WAIT, || async {
        (env.queue_depth(queue).await == depth).then_some(())
    })
    .await;
}

/// A message taken from a dead-letter queue: its AMQP `message_id` and its body.
pub struct DeadLetter {
    pub message_id: Option<String>,
    pub body: Vec<u8>,
}

/// Takes every message out of the processor's dead-letter queue.
pub async fn take_dead_letters(env: &TestEnv) -> Vec<DeadLetter> {
    let url = env.settings.amqp.url.expose();
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to RabbitMQ at {url}: {e}"));
    let channel = connection
        .create_channel()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let queue = env.topology().processor.dead_letter_queue();
    let mut taken = Vec::new();
    while let Some(message) = channel
        .basic_get(
            queue.as_str().into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap_or_else(|e| panic!("basic.get {queue}: {e}"))
    {
        let delivery = message.delivery;
        taken.push(DeadLetter {
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(|id| id.to_string()),
            body: delivery.data,
        });
    }
    let _ = connection.close(200, "done".into()).await;
    taken
}

/// A queue of the test's own, bound to the issue notices (`issue.*`) on the events exchange,
/// as the alerter's will be; exclusive, so it goes with the test's connection.
pub struct NoticeTap {
    connection: lapin::Connection,
    channel: lapin::Channel,
    queue: String,
}

impl NoticeTap {
    /// Call once the processor has declared the exchange.
    pub async fn bind(env: &TestEnv) -> Self {
        let url = env.settings.amqp.url.expose();
        let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to RabbitMQ at {url}: {e}"));
        let channel = connection.create_channel().await.expect("channel");
        let queue = format!("{}.notices", env.prefix);
        channel
            .queue_declare(
                queue.as_str().into(),
                lapin::options::QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("declared");
        channel
            .queue_bind(
                queue.as_str().into(),
                env.topology().exchange.as_str().into(),
                "issue.*".into(),
                lapin::options::QueueBindOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("bound");
        Self {
            connection,
            channel,
            queue,
        }
    }

    /// The next notice, with its routing key; waits for it.
    pub async fn next(&self) -> (String, Value) {
        eventually("an issue notice", Duration::from_secs(30), || {
            self.try_next()
        })
        .await
    }

    /// The next notice if one is queued now, without waiting.
    pub async fn try_next(&self) -> Option<(String, Value)> {
        let message = self
            .channel
            .basic_get(
                self.queue.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic.get")?;
        let body = serde_json::from_slice(&message.delivery.data).expect("a JSON notice");
        Some((message.delivery.routing_key.to_string(), body))
    }

    pub async fn close(self) {
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// Waits until the processor's outbox is empty: every notice written so far was published
/// and confirmed.
pub async fn wait_outbox_empty(db: &PgPool) {
    eventually(
        "the outbox to be published",
        Duration::from_secs(30),
        || async {
            let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
                .fetch_one(db)
                .await
                .ok()?;
            (queued == 0).then_some(())
        },
    )
    .await;
}
