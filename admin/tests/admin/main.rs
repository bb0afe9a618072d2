//! Replaying parked messages against the real RabbitMQ; `sourcemaps`: the source map
//! commands against a real processor; `erasure`: erasing a user through a real processor;
//! `cli`: the binary's command line.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod cli;
mod erasure;
mod projects;
mod sourcemaps;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use shared::testing::TestEnv;

/// Publishes `body` to `exchange` with `routing_key`, confirmed.
pub(crate) async fn park(env: &TestEnv, exchange: &str, routing_key: &str, body: &[u8]) {
    let connection = Connection::connect(
        env.settings.amqp.url.expose(),
        ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = connection.create_channel().await.unwrap();
    env.topology().declare(&channel).await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirmation = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body,
            BasicProperties::default()
                .with_message_id("parked-1".into())
                .with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(matches!(confirmation, lapin::Confirmation::Ack(None)));
    connection.close(200, "done".into()).await.unwrap();
}

#[tokio::test]
async fn dead_letters_go_back_to_their_own_queue_only() {
    let env = TestEnv::new();
    let topology = env.topology();
    let dead = topology.processor.dead_letter_queue();
    park(&env, "", &dead, b"{\"parked\":1}").await;
    park(&env, "", &dead, b"{\"parked\":2}").await;
    assert_eq!(env.queue_depth(&dead).await, 2);

    let depths = admin::queue_depths(&env.settings).await.unwrap();
    assert!(depths.contains(&(dead.clone(), 2)), "{depths:?}");

    let moved = admin::replay(&env.settings, admin::Source::Processor, Some(1))
        .await
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(env.queue_depth(&dead).await, 1);
    let moved = admin::replay(&env.settings, admin::Source::Processor, None)
        .await
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(env.queue_depth(&dead).await, 0);
    assert_eq!(env.queue_depth(&topology.processor.name).await, 2);
    // The alerter never sees a processor's dead letter.
    assert_eq!(env.queue_depth(&topology.alerter.name).await, 0);
}

#[tokio::test]
async fn unroutable_events_go_back_through_the_exchange_with_their_routing_key() {
    let env = TestEnv::new();
    let topology = env.topology();
    // What the alternate exchange does with an event no binding matched.
    park(&env, &topology.unroutable(), "error.js", b"{}").await;
    assert_eq!(env.queue_depth(&topology.unroutable()).await, 1);

    let moved = admin::replay(&env.settings, admin::Source::Unroutable, None)
        .await
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(env.queue_depth(&topology.unroutable()).await, 0);
    // error.js reaches both consumers.
    assert_eq!(env.queue_depth(&topology.processor.name).await, 1);
    assert_eq!(env.queue_depth(&topology.alerter.name).await, 1);
}
