//! The whole pipeline in one process: collector → RabbitMQ → processor (PostgreSQL) and
//! alerter (a local webhook receiver), against the real broker and database.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};
use shared::testing::receiver::Receiver;
use shared::testing::{TestEnv, eventually};

use crate::support::*;

#[tokio::test]
async fn a_mixed_batch_is_stored_once_and_only_errors_are_notified_signed() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), Some(SECRET));
    let processor = Service::processor(&env.settings).await;
    let alerter = Service::alerter(&env.settings).await;
    let collector = Service::collector(&env.settings).await;
    let client = http();

    let batch = json!([
        {"type": "error", "message": "TypeError: cart is undefined", "stack": "TypeError: cart is undefined\n    at checkout (https://shop.example/app.js:10:5)", "url": "https://shop.example/cart", "release": "1.2.3"},
        {"type": "resource_error", "target": "https://cdn.example/app.css", "tag_name": "link"},
        {"type": "api_error", "target": "https://shop.example/api/pay", "method": "POST", "status": 502, "duration_ms": 812.5},
        {"type": "white_screen", "empty_ratio": 1, "points": 18, "url": "https://shop.example/checkout?step=2"},
        {"type": "vital", "name": "LCP", "value": 2300, "url": "https://shop.example/"},
        {"type": "pageview", "url": "https://shop.example/", "referrer": "https://search.example/"},
        {"type": "click", "selector": "button#pay", "text": "Pay"},
        {"type": "custom", "name": "checkout_started", "data": {"items": 3}},
        {"type": "message", "message": "cache warmed", "level": "info"},
        {"type": "session", "status": "exited", "duration_ms": 61000, "pages": 6}
    ]);
    let ids = post(&client, &collector, &batch).await;
    assert_eq!(ids.len(), 10);

    // Every event readable by id, with the routing key its type maps to.
    let expected_keys = [
        "error.js",
        "error.resource",
        "error.api",
        "error.white_screen",
        "perf.vital",
        "behavior.pageview",
        "behavior.click",
        "custom.event",
        "log.message",
        "behavior.session",
    ];
    for (id, key) in ids.iter().zip(expected_keys) {
        let event: Value = eventually(&format!("event {id} stored"), WAIT, || async {
            project_get(&processor, &format!("events/{id}")).await
        })
        .await;
        assert_eq!(event["routing_key"], key);
    }
    // ... exactly once.
    let (total, distinct) = stored_ids(&env.settings).await;
    assert_eq!((total, distinct.len()), (10, 10));

    // The four errors were notified, signed; then a marker error proves nothing else came.
    let errors: Vec<shared::event::EventId> =
        ids[..4].iter().map(|id| id.parse().unwrap()).collect();
    receiver.wait_for("/ops", &errors).await;
    let marker = post(
        &client,
        &collector,
        &json!({"type": "error", "message": "marker"}),
    )
    .await;
    receiver
        .wait_for("/ops", &[marker[0].parse().unwrap()])
        .await;
    let delivered = receiver.delivered("/ops");
    let notified: Vec<String> = delivered.iter().map(|r| r.event_id().to_string()).collect();
    let mut expected: Vec<String> = ids[..4].to_vec();
    expected.push(marker[0].clone());
    assert_eq!(
        notified.iter().collect::<BTreeSet<_>>(),
        expected.iter().collect::<BTreeSet<_>>(),
        "only the errors are notified"
    );
    assert_eq!(notified.len(), 5, "each error notified once");
    for request in &delivered {
        verify_signature(
            request.timestamp.as_deref().expect("timestamp header"),
            &request.body,
            request.signature.as_deref().expect("signature header"),
        );
    }
    let first = delivered
        .iter()
        .find(|r| r.event_id().to_string() == ids[0])
        .expect("first error");
    let notification = first.json();
    assert_eq!(notification["message"], "TypeError: cart is undefined");
    assert_eq!(notification["routing_key"], "error.js");
    assert_eq!(notification["release"], "1.2.3");
    assert_eq!(notification["project_id"], 1);
    let blank = delivered
        .iter()
        .find(|r| r.event_id().to_string() == ids[3])
        .expect("the white screen")
        .json();
    assert_eq!(blank["routing_key"], "error.white_screen");
    assert_eq!(blank["message"], "White screen on /checkout");

    collector.stop().await;
    alerter.stop().await;
    processor.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn with_the_processor_down_the_collector_accepts_and_the_backlog_is_stored_once() {
    let env = TestEnv::new();
    let collector = Service::collector(&env.settings).await;

    let posted = post_many(
        &collector,
        1000,
        8,
        |i| json!({"type": "pageview", "url": format!("https://shop.example/p/{i}")}),
    )
    .await;
    assert_eq!(
        posted.len(),
        1000,
        "all 1,000 accepted with the processor down"
    );
    assert_eq!(env.queue_depth(&env.topology().processor.name).await, 1000);

    let processor = Service::processor(&env.settings).await;
    let stored = eventually("the backlog to be stored", WAIT, || async {
        let (total, ids) = stored_ids(&env.settings).await;
        (total >= 1000).then_some((total, ids))
    })
    .await;
    assert_eq!(stored.0, 1000, "no event stored twice");
    assert_eq!(
        stored.1,
        posted.iter().cloned().collect::<BTreeSet<_>>(),
        "every accepted event stored"
    );
    eventually("the queue to be empty", WAIT, || async {
        (env.queue_depth(&env.topology().processor.name).await == 0).then_some(())
    })
    .await;

    collector.stop().await;
    processor.stop().await;
}

#[tokio::test]
async fn with_the_alerter_down_errors_wait_and_each_is_notified_once() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), None);
    // Every event notified, so the count is exact.
    notify_every_error(&mut env.settings);
    let collector = Service::collector(&env.settings).await;

    let posted = post_many(
        &collector,
        1000,
        8,
        |i| json!({"type": "error", "message": format!("error {i}")}),
    )
    .await;
    assert_eq!(posted.len(), 1000);
    assert_eq!(env.queue_depth(&env.topology().alerter.name).await, 1000);
    assert!(receiver.received().is_empty());

    let alerter = Service::alerter(&env.settings).await;
    let ids: Vec<shared::event::EventId> = posted.iter().map(|id| id.parse().unwrap()).collect();
    receiver.wait_for("/ops", &ids).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for request in receiver.delivered("/ops") {
        *counts.entry(request.event_id().to_string()).or_default() += 1;
    }
    assert_eq!(counts.len(), 1000);
    assert!(counts.values().all(|&n| n == 1), "no error notified twice");

    collector.stop().await;
    alerter.stop().await;
    receiver.stop().await;
}

/// An alerter older than `issue.created` does not know the notice and dead-letters it; after
/// the upgrade, `frontmon-admin replay alerter` hands it back, under the queue's name, and the
/// new alerter still tells it from an event by the key it was published with.
#[tokio::test]
async fn a_notice_an_older_alerter_dead_lettered_is_notified_after_a_replay() {
    let receiver = Receiver::start();
    let mut env = TestEnv::new();
    env.add_webhook("ops", &receiver.url("/ops"), None);
    let topology = env.topology();
    let publisher = env.publisher().await;
    let mut error = shared::event::Event::new(
        shared::event::EventId::new_random(),
        shared::event::ProjectId::new(1).expect("non-zero"),
        chrono::Utc::now(),
        chrono::Utc::now(),
        shared::event::Detail::Error {},
    );
    error.message = Some("TypeError: coupon is undefined".into());
    let grouping = shared::grouping::group_event(&error).expect("an error");
    let notice = shared::testing::created_notice(&error, &grouping);
    shared::testing::publish_confirmed(&publisher, &[shared::testing::notice_message(&notice)])
        .await;

    // What the older alerter did: reject it, and the broker dead-lettered it.
    let connection = lapin::Connection::connect(
        env.settings.amqp.url.expose(),
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("connected");
    let channel = connection.create_channel().await.expect("a channel");
    let message = eventually("the notice in the alerter's queue", WAIT, || async {
        channel
            .basic_get(
                topology.alerter.name.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: false },
            )
            .await
            .expect("basic.get")
    })
    .await;
    assert_eq!(message.delivery.routing_key.as_str(), "issue.created");
    message
        .delivery
        .acker
        .reject(lapin::options::BasicRejectOptions { requeue: false })
        .await
        .expect("rejected");
    let dead = topology.alerter.dead_letter_queue();
    eventually("the notice dead-lettered", WAIT, || async {
        (env.queue_depth(&dead).await == 1).then_some(())
    })
    .await;
    let _ = connection.close(200, "done".into()).await;

    let moved = admin::replay(&env.settings, admin::Source::Alerter, None)
        .await
        .expect("replayed");
    assert_eq!(moved, 1);
    let alerter = Service::alerter(&env.settings).await;
    receiver.wait_for("/ops", &[error.event_id]).await;
    let delivered = receiver.delivered("/ops");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].json()["kind"], "new_issue");
    assert_eq!(env.queue_depth(&dead).await, 0, "not dead-lettered again");

    alerter.stop().await;
    publisher.close().await;
    receiver.stop().await;
}
