//! The alerter against the real RabbitMQ, with a local webhook receiver. Each test has its own
//! exchange and queues (`TestEnv`), so they run in parallel.

mod outages;
mod support;

use std::collections::HashSet;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use shared::event::EventId;
use shared::publisher::Outgoing;
use shared::testing::{TestEnv, eventually};
use support::{
    Receiver, TestApp, WAIT, api_error, js_error, publish, publisher, resource_error, vital,
};

const SECRET: &str = "whsec_0123456789";

/// HMAC-SHA256 over `timestamp.body`, computed here rather than with the alerter's code.
fn expected_signature(timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn error_events_reach_every_channel_signed_and_nothing_else_does() {
    let mut env = TestEnv::new();
    let receiver = Receiver::start();
    env.add_webhook("signed", &receiver.url("/signed"), Some(SECRET));
    env.add_webhook("plain", &receiver.url("/plain"), None);
    let app = TestApp::spawn(env.settings.clone());
    let publisher = publisher(&env).await;

    let errors = [
        js_error("TypeError: x is undefined"),
        resource_error(),
        api_error(),
    ];
    let vital = vital();
    let marker = js_error("marker");
    publish(&publisher, &[&errors[0], &errors[1], &vital, &errors[2]]).await;
    publish(&publisher, &[&marker]).await;

    let mut expected: Vec<EventId> = errors.iter().map(|e| e.event_id).collect();
    expected.push(marker.event_id);
    receiver.wait_for("/signed", &expected).await;
    receiver.wait_for("/plain", &expected).await;

    let received = receiver.received();
    assert!(
        received.iter().all(|r| r.event_id() != vital.event_id),
        "a perf.vital event reached a webhook"
    );
    assert_eq!(received.len(), 8, "one request per event and channel");
    // One delivery id per event and channel.
    let deliveries: HashSet<&str> = received
        .iter()
        .map(|r| {
            r.delivery
                .as_deref()
                .unwrap_or_else(|| panic!("no X-Frontmon-Delivery"))
        })
        .collect();
    assert_eq!(deliveries.len(), 8);
    for request in &received {
        assert!(request.ok());
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            request.event_id_header.as_deref(),
            Some(request.event_id().to_string().as_str())
        );
        if request.path == "/signed" {
            let timestamp = request
                .timestamp
                .as_deref()
                .unwrap_or_else(|| panic!("no timestamp"));
            let sent: i64 = timestamp.parse().unwrap_or_else(|e| panic!("{e}"));
            assert!((chrono::Utc::now().timestamp() - sent).abs() < 300);
            assert_eq!(
                request.signature.as_deref(),
                Some(expected_signature(timestamp, &request.body).as_str())
            );
        } else {
            assert!(request.timestamp.is_none() && request.signature.is_none());
        }
    }

    let js = received
        .iter()
        .find(|r| r.event_id() == errors[0].event_id)
        .unwrap_or_else(|| panic!("the js error"))
        .json();
    assert_eq!(js["project_id"], 1);
    assert_eq!(js["project"], "test");
    assert_eq!(js["routing_key"], "error.js");
    assert_eq!(js["message"], "TypeError: x is undefined");
    assert_eq!(js["url"], "https://shop.example/cart");
    assert_eq!(js["release"], "1.4.2");
    assert_eq!(js["environment"], "production");
    assert_eq!(js["timestamp_ms"], errors[0].timestamp.timestamp_millis());
    assert!(js["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        js["text"],
        "[test] error.js: TypeError: x is undefined (https://shop.example/cart)"
    );
    let resource = received
        .iter()
        .find(|r| r.event_id() == errors[1].event_id)
        .unwrap_or_else(|| panic!("the resource error"))
        .json();
    assert_eq!(resource["routing_key"], "error.resource");
    assert_eq!(resource["message"], serde_json::Value::Null);

    assert_eq!(
        app.metric("frontmon_alerter_events_consumed_total").await,
        4.0
    );
    assert_eq!(
        app.metric(r#"frontmon_alerter_notifications_total{channel="signed",outcome="sent"}"#)
            .await,
        4.0
    );
    publisher.close().await;
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn the_cooldown_sends_one_notification_per_problem() {
    let mut env = TestEnv::new();
    let receiver = Receiver::start();
    env.add_webhook("hook", &receiver.url("/hook"), None);
    assert_eq!(env.settings.alerter.cooldown, Duration::from_secs(300));
    let app = TestApp::spawn(env.settings.clone());
    let publisher = publisher(&env).await;

    let first = js_error("TypeError: cart is null");
    let again = js_error("TypeError: cart is null");
    let other = js_error("TypeError: user is null");
    let marker = js_error("marker");
    publish(&publisher, &[&first, &again, &other]).await;
    publish(&publisher, &[&marker]).await;

    receiver
        .wait_for("/hook", &[other.event_id, marker.event_id])
        .await;
    eventually("one suppression", WAIT, || async {
        (app.metric("frontmon_alerter_notifications_suppressed_total")
            .await
            == 1.0)
            .then_some(())
    })
    .await;
    let duplicates = receiver
        .received()
        .iter()
        .filter(|r| r.event_id() == first.event_id || r.event_id() == again.event_id)
        .count();
    assert_eq!(
        duplicates, 1,
        "the same problem was notified {duplicates} times"
    );
    assert_eq!(receiver.received().len(), 3);
    // Suppressed events are acknowledged, not left in the queue.
    eventually("an empty queue", WAIT, || async {
        (env.queue_depth(&env.settings.alerter.queue).await == 0).then_some(())
    })
    .await;
    assert_eq!(
        app.metric("frontmon_alerter_events_consumed_total").await,
        4.0
    );

    publisher.close().await;
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn events_published_while_the_alerter_is_down_are_all_notified_once() {
    let mut env = TestEnv::new();
    let receiver = Receiver::start();
    env.add_webhook("hook", &receiver.url("/hook"), None);
    // A zero cooldown turns suppression off: every copy of the same error is notified.
    env.settings.alerter.cooldown = Duration::ZERO;
    let publisher = publisher(&env).await;

    let events: Vec<_> = (0..1000)
        .map(|_| js_error("TypeError: x is undefined"))
        .collect();
    for chunk in events.chunks(100) {
        let refs: Vec<_> = chunk.iter().collect();
        publish(&publisher, &refs).await;
    }
    assert_eq!(env.queue_depth(&env.settings.alerter.queue).await, 1000);

    let app = TestApp::spawn(env.settings.clone());
    eventually("1000 notifications", Duration::from_secs(120), || async {
        (receiver.delivered("/hook").len() >= 1000).then_some(())
    })
    .await;
    let marker = js_error("marker");
    publish(&publisher, &[&marker]).await;
    receiver.wait_for("/hook", &[marker.event_id]).await;

    let delivered = receiver.delivered("/hook");
    assert_eq!(
        delivered.len(),
        1001,
        "each event exactly once, then the marker"
    );
    let ids: HashSet<EventId> = delivered.iter().map(|r| r.event_id()).collect();
    let mut expected: HashSet<EventId> = events.iter().map(|e| e.event_id).collect();
    expected.insert(marker.event_id);
    assert_eq!(ids, expected);
    assert_eq!(
        app.metric("frontmon_alerter_notifications_suppressed_total")
            .await,
        0.0
    );

    publisher.close().await;
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_an_event_is_dead_lettered_and_the_queue_flows_on() {
    let mut env = TestEnv::new();
    let receiver = Receiver::start();
    env.add_webhook("hook", &receiver.url("/hook"), None);
    let app = TestApp::spawn(env.settings.clone());
    let publisher = publisher(&env).await;

    let valid = js_error("TypeError: after the poison");
    let poison = Outgoing {
        body: b"{ this is not an event".to_vec(),
        ..support::outgoing(&js_error("poison"))
    };
    publisher
        .publish(&[poison, support::outgoing(&valid)])
        .await
        .unwrap_or_else(|e| panic!("cannot publish: {e}"));

    receiver.wait_for("/hook", &[valid.event_id]).await;
    let dead = env.topology().alerter.dead_letter_queue();
    eventually("the poison in the dead-letter queue", WAIT, || async {
        (env.queue_depth(&dead).await == 1).then_some(())
    })
    .await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(
        app.metric(r#"frontmon_alerter_deliveries_dead_lettered_total{reason="poison"}"#)
            .await,
        1.0
    );

    publisher.close().await;
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let mut env = TestEnv::new();
    env.add_webhook("ops", "http://127.0.0.1:9/never-called", None);
    let app = TestApp::spawn(env.settings.clone());

    let (status, body) = app.get("/healthz").await;
    assert_eq!(status, 200, "{body}");
    app.wait_ready().await;
    let (_, body) = app.get("/readyz").await;
    let readiness: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(readiness["checks"]["broker"], true, "{body}");

    let (status, metrics) = app.get("/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "frontmon_alerter_events_consumed",
        "frontmon_alerter_notifications_suppressed",
        "frontmon_alerter_deliveries_requeued",
        "frontmon_alerter_deliveries_dead_lettered",
    ] {
        assert!(
            metrics.contains(&format!("# HELP {name} ")),
            "no HELP for {name}:\n{metrics}"
        );
        assert!(
            metrics.contains(&format!("# TYPE {name} counter")),
            "no TYPE for {name}:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("# TYPE frontmon_alerter_notifications counter"),
        "{metrics}"
    );
    // Every series of a configured channel exists from the start, at zero.
    for outcome in ["sent", "rejected", "timeout", "unreachable"] {
        let series = format!(
            r#"frontmon_alerter_notifications_total{{channel="ops",outcome="{outcome}"}} 0"#
        );
        assert!(metrics.contains(&series), "no {series}:\n{metrics}");
    }
    for series in [
        r#"frontmon_alerter_deliveries_retrying{channel="ops"} 0"#,
        r#"frontmon_alerter_deliveries_dead_lettered_total{reason="poison"} 0"#,
        r#"frontmon_alerter_deliveries_dead_lettered_total{reason="retry_budget"} 0"#,
    ] {
        assert!(metrics.contains(series), "no {series}:\n{metrics}");
    }
    assert!(
        metrics.contains("# TYPE frontmon_alerter_deliveries_retrying gauge"),
        "{metrics}"
    );

    app.stop().await;
}

#[tokio::test]
async fn the_alerter_reconnects_when_the_broker_drops_it() {
    let mut env = TestEnv::new();
    let receiver = Receiver::start();
    env.add_webhook("hook", &receiver.url("/hook"), None);
    let app = TestApp::spawn(env.settings.clone());
    app.wait_ready().await;
    let publisher = publisher(&env).await;

    let closed = env.close_broker_connections();
    assert!(closed >= 1, "no broker connection of this test was found");

    let event = js_error("TypeError: after reconnecting");
    // The publisher was dropped too; it reconnects on a later call.
    eventually("a publish after the reconnect", WAIT, || async {
        publisher.publish(&[support::outgoing(&event)]).await.ok()
    })
    .await;
    receiver.wait_for("/hook", &[event.event_id]).await;
    app.wait_ready().await;

    publisher.close().await;
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_and_acknowledges_the_delivery_in_hand() {
    let mut env = TestEnv::new();
    let receiver = Receiver::start();
    env.add_webhook("hook", &receiver.url("/hook"), None);
    receiver.delay(Duration::from_millis(500));
    let app = TestApp::spawn(env.settings.clone());
    let publisher = publisher(&env).await;

    let event = js_error("TypeError: during shutdown");
    publish(&publisher, &[&event]).await;
    eventually("the webhook call to start", WAIT, || async {
        (!receiver.received().is_empty()).then_some(())
    })
    .await;
    app.shutdown.cancel();
    assert_eq!(
        app.get("/readyz").await.0,
        503,
        "not ready once shutdown began"
    );
    app.stop().await;

    // Answered and acknowledged, not handed back to the queue.
    assert!(receiver.has("/hook", event.event_id));
    assert_eq!(env.queue_depth(&env.settings.alerter.queue).await, 0);

    publisher.close().await;
    receiver.stop().await;
}
