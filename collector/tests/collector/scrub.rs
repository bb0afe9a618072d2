//! Data scrubbing through the real collector: realistic leaks sent by the native, Sentry and
//! Faro endpoints are not in the messages the broker holds, what is not a secret is, and a
//! project that turned scrubbing off gets its events as sent.

use serde_json::{Value, json};
use shared::testing::{OTHER_KEY, TEST_KEY, TestEnv};

use crate::support::{Running, http, take_messages};

/// A JWT, as single-page apps put them in URLs and `Authorization` headers.
pub const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTQyIiwibmFtZSI6IkJvYiJ9.8rXBvXy2hRkBNeBPyMZv1EUaYP3gpj0Dbx0J2zbsHxw";
/// Secrets the events below leak, each in a different place.
const SECRETS: &[&str] = &[
    JWT,
    "hunter2-form",
    "4111 1111 1111 1111",
    "4111111111111111",
    "sk_live_extra_51H8",
    "tok-tag-9f8e7d",
    "access-9c1d2e3f",
    "bearer-0a1b2c3d4e5f",
    "sessioncookie-77aa",
    "sentry-pass-3344",
    "faro-token-5566",
    "loyalty-secret-8899",
    "DE89370400440532013000",
];

fn native_leaks() -> Value {
    json!([
        {
            "type": "error",
            "message": "Payment failed for card 4111 1111 1111 1111",
            "url": format!("https://shop.example/account?jwt={JWT}&tab=orders"),
            "stack": "Error: Payment failed\n    at pay (https://shop.example/app.js:10:5)",
            "user": {"id": "u-42"},
            "tags": {"auth_token": "tok-tag-9f8e7d", "checkout": "v2"},
            "breadcrumbs": [
                {"category": "form", "message": "submit login: user=bob&password=hunter2-form"},
                {"category": "fetch", "data": {
                    "url": "https://api.shop.example/orders?access_token=access-9c1d2e3f",
                    "method": "GET",
                    "headers": {"Authorization": "Bearer bearer-0a1b2c3d4e5f"}
                }},
                {"category": "console", "message": "refund to DE89370400440532013000"}
            ],
            "extra": {
                "api_key": "sk_live_extra_51H8",
                "card": 4111111111111111u64,
                "loyalty_number": "loyalty-secret-8899",
                "order_number": "4111111111111112",
                "cart": {"items": 3}
            }
        },
        {"type": "api_error", "target": format!("https://api.shop.example/me/{JWT}"), "status": 500},
        {"type": "pageview", "url": "https://shop.example/search?q=shoes&page=2"}
    ])
}

fn sentry_leaks() -> Vec<u8> {
    let event = json!({
        "event_id": "c0ffee00c0ffee00c0ffee00c0ffee01",
        "timestamp": chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        "platform": "javascript",
        "level": "error",
        "exception": {"values": [{"type": "Error", "value": "login failed"}]},
        "user": {"id": "u-42"},
        "request": {
            "url": "https://shop.example/login",
            "method": "POST",
            "headers": [["Authorization", format!("Bearer {JWT}")], ["Accept", "text/html"]],
            "cookies": {"sessionid": "sessioncookie-77aa", "theme": "dark"},
            "data": {"username": "bob", "password": "sentry-pass-3344"}
        },
        "sdk": {"name": "sentry.javascript.browser", "version": "8.55.0"}
    });
    format!(
        "{}\n{}\n{}\n",
        json!({"event_id": "c0ffee00c0ffee00c0ffee00c0ffee01"}),
        json!({"type": "event"}),
        event
    )
    .into_bytes()
}

fn faro_leaks() -> String {
    let mut batch: Value =
        serde_json::from_str(include_str!("../faro/faro-2.12.1-3.json")).expect("recorded");
    batch["meta"]["page"]["url"] =
        json!("http://127.0.0.1:43043/checkout/done?token=faro-token-5566");
    batch.to_string()
}

/// Posts the leaks to every endpoint of `project` (with `key`) and returns the messages.
async fn send_leaks(env: &TestEnv, app: &Running, project: u32, key: &str) -> String {
    let queue = env.topology().processor.name;
    let response = http()
        .post(format!("{}?key={key}", app.events_url(project)))
        .header("content-type", "application/json")
        .header("origin", "https://shop.example")
        .body(native_leaks().to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let response = http()
        .post(format!(
            "{}/api/{project}/envelope/?sentry_key={key}",
            app.base
        ))
        .header("origin", "https://shop.example")
        .body(sentry_leaks())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let response = http()
        .post(format!("{}/collect/{project}", app.base))
        .header("content-type", "application/json")
        .header("origin", "https://shop.example")
        .header("x-api-key", key)
        .body(faro_leaks())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    let messages = take_messages(env, &queue).await;
    assert!(messages.len() >= 5, "{messages:?}");
    serde_json::to_string(&messages).expect("JSON")
}

#[tokio::test]
async fn secrets_sent_to_any_endpoint_are_not_in_the_published_events() {
    let mut env = TestEnv::new();
    env.settings.projects[0].scrub_fields = vec!["loyalty".into()];
    let app = Running::start(env.settings.clone()).await;

    let published = send_leaks(&env, &app, 1, TEST_KEY).await;
    for secret in SECRETS {
        assert!(!published.contains(secret), "{secret} in {published}");
    }
    for kept in [
        "https://shop.example/search?q=shoes&page=2",
        "4111111111111112",
        "u-42",
        "tab=orders",
        // Cookies are filtered whole, as the `Cookie` header is.
        "\"cookies\":\"[Filtered]\"",
        "\"username\":\"bob\"",
        "text/html",
        "[Filtered]",
    ] {
        assert!(published.contains(kept), "{kept} not in {published}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_project_without_scrubbing_gets_its_events_as_sent() {
    let mut env = TestEnv::new();
    env.settings.projects[1].scrub = false;
    let app = Running::start(env.settings.clone()).await;

    let published = send_leaks(&env, &app, 2, OTHER_KEY).await;
    assert!(published.contains(JWT), "{published}");
    assert!(published.contains("hunter2-form"), "{published}");
    assert!(!published.contains("[Filtered]"), "{published}");
    app.stop().await;
}
