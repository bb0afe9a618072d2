//! What the alerter's tests share: a running alerter, a webhook receiver, events to publish.

use std::time::Duration;

use alerter::Application;
use chrono::Utc;
use shared::config::Settings;
use shared::event::{Detail, Event, EventId, ProjectId, Rating, VitalName};
use shared::notice::IssueNotice;
use shared::publisher::{Outgoing, Publisher};
use shared::testing::TestEnv;
use shared::testing::spawned::Spawned;
use tokio_util::sync::CancellationToken;

pub use shared::testing::receiver::Receiver;

pub const WAIT: Duration = Duration::from_secs(30);

/// An alerter built from `settings`, running in this process.
pub struct TestApp {
    pub port: u16,
    running: Spawned,
    http: reqwest::Client,
}

impl TestApp {
    /// An alerter built from `settings` (its database and schema created), running.
    pub async fn spawn(settings: Settings) -> Self {
        if std::env::var_os("RUST_LOG").is_some() {
            shared::telemetry::init(&settings.log);
        }
        let shutdown = CancellationToken::new();
        let app = Application::build(settings, shutdown.clone())
            .await
            .unwrap_or_else(|e| panic!("cannot build the alerter: {e:#}"));
        let port = app.port();
        Self {
            port,
            running: Spawned::spawn("alerter", port, shutdown, app.run_until_stopped()),
            http: reqwest::Client::new(),
        }
    }

    /// `GET` on the alerts API, with the admin token.
    pub async fn api(&self, path: &str) -> serde_json::Value {
        let response = self
            .http
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .bearer_auth(shared::testing::ADMIN_TOKEN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(response.status(), 200, "GET {path}");
        response
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// The notifications of `/api/alerts`, oldest first.
    pub async fn alerts(&self) -> Vec<serde_json::Value> {
        let mut alerts = self.api("/api/alerts?limit=500").await["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        alerts.reverse();
        alerts
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// The value of one sample in `/metrics`, `name{labels}` spelled as exported.
    pub async fn metric(&self, sample: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .filter_map(|line| line.rsplit_once(' '))
            .find(|(name, _)| *name == sample)
            .map(|(_, value)| value.parse().unwrap_or_else(|e| panic!("{sample}: {e}")))
            .unwrap_or(0.0)
    }

    pub async fn wait_ready(&self) {
        shared::testing::eventually("the alerter to be ready", WAIT, || async {
            (self.get("/readyz").await.0 == 200).then_some(())
        })
        .await;
    }

    /// Cancels the token and waits for a clean exit.
    pub async fn stop(self) {
        self.stop_within(WAIT).await;
    }

    /// Cancels the token and waits at most `limit` for a clean exit.
    pub async fn stop_within(self, limit: Duration) {
        self.running.stop_within(limit).await;
    }
}

pub async fn publisher(env: &TestEnv) -> Publisher {
    env.publisher().await
}

pub use shared::testing::{notice_message, outgoing};

pub async fn publish(publisher: &Publisher, events: &[&Event]) {
    let messages: Vec<Outgoing> = events.iter().map(|event| outgoing(event)).collect();
    shared::testing::publish_confirmed(publisher, &messages).await;
}

/// What the processor announces once it stored `event`, the first of its issue: an
/// `issue.created` notice, grouped by the shared function as the processor groups it.
pub fn created(event: &Event) -> IssueNotice {
    let grouping = shared::grouping::group_event(event).expect("an error");
    shared::testing::created_notice(event, &grouping)
}

/// Publishes the processor's `issue.created` for each of `events`.
pub async fn announce(publisher: &Publisher, events: &[&Event]) {
    let messages: Vec<Outgoing> = events
        .iter()
        .map(|event| notice_message(&created(event)))
        .collect();
    shared::testing::publish_confirmed(publisher, &messages).await;
}

fn event(detail: Detail, message: Option<&str>) -> Event {
    let now = Utc::now();
    let project = ProjectId::new(1).unwrap_or_else(|| panic!("zero"));
    Event {
        url: Some("https://shop.example/cart".into()),
        message: message.map(Into::into),
        // The frame is named after the message: each message its own problem (issue), as
        // the cooldown tests need, and copies of one message the same problem.
        stack: message.map(|m| {
            let frame: String = m
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            format!("Error: {m}\n    at {frame} (https://shop.example/app.js:10:5)\n    at main")
        }),
        release: Some("1.4.2".into()),
        environment: Some("production".into()),
        ..Event::new(EventId::new_random(), project, now, now, detail)
    }
}

/// A JavaScript error with this message, thrown at the same place every time.
pub fn js_error(message: &str) -> Event {
    event(Detail::Error {}, Some(message))
}

/// A page of the shop's checkout that stayed blank, as frontmon's SDK reports it.
pub fn white_screen() -> Event {
    let mut event = event(
        Detail::WhiteScreen {
            empty_ratio: 1.0,
            points: Some(18),
        },
        Some("White screen on /checkout"),
    );
    event.stack = None;
    event.url = Some("https://shop.example/checkout?step=2".into());
    event
}

pub fn vital() -> Event {
    event(
        Detail::Vital {
            name: VitalName::Lcp,
            value: 5000.0,
            rating: Rating::Poor,
            navigation_type: None,
            attribution: None,
        },
        None,
    )
}
