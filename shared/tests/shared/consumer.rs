//! The delivery wrapper against the real RabbitMQ: a delivery dropped unsettled is logged,
//! and the broker puts it back in the queue once the channel closes.

use chrono::Utc;
use shared::consumer::{ConsumeOptions, Delivery, Subscription, run};
use shared::event::{EventId, ProjectId};
use shared::health::ReadyFlag;
use shared::publisher::Outgoing;
use shared::testing::logs::capture;
use shared::testing::{TestEnv, publish_confirmed};
use tokio_util::sync::CancellationToken;

/// Runs one consume session on `options` that takes the first delivery, hands it to `then`,
/// and closes the subscription.
async fn first_delivery<F>(options: &ConsumeOptions, then: F)
where
    F: FnOnce(Delivery) -> futures::future::BoxFuture<'static, ()>,
{
    let shutdown = CancellationToken::new();
    let mut then = Some(then);
    run(
        options.clone(),
        shutdown.clone(),
        ReadyFlag::default(),
        |mut subscription: Subscription| {
            let shutdown = shutdown.clone();
            let then = then.take();
            async move {
                let delivery = match subscription.recv().await {
                    Some(Ok(delivery)) => delivery,
                    other => panic!(
                        "no delivery: {:?}",
                        other.map(|d| d.map(|d| d.delivery_tag()))
                    ),
                };
                if let Some(then) = then {
                    then(delivery).await;
                }
                subscription.close().await;
                shutdown.cancel();
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_delivery_dropped_unsettled_is_logged_and_comes_back_once_the_channel_closes() {
    let env = TestEnv::new();
    let publisher = env.publisher().await;
    let event_id = EventId::new_random();
    let message = Outgoing {
        event_id,
        project_id: ProjectId::new(1).unwrap_or_else(|| panic!("project id 0")),
        routing_key: "error.js".parse().unwrap_or_else(|e| panic!("{e:?}")),
        received_at: Utc::now(),
        body: b"{}".to_vec(),
        partition_key: None,
    };
    publish_confirmed(&publisher, &[message]).await;
    let topology = env.topology();
    let options = ConsumeOptions {
        url: env.settings.amqp.url.expose().into(),
        queue: topology.processor.name.clone(),
        topology,
        prefetch: 10,
        connection_name: format!("{}.consumer-test", env.settings.amqp.exchange),
    };
    let (logs, _guard) = capture();

    let expected = event_id.to_string();
    let id = expected.clone();
    first_delivery(&options, move |delivery| {
        Box::pin(async move {
            assert_eq!(delivery.message_id(), Some(id.as_str()));
            assert!(!delivery.redelivered());
            drop(delivery);
        })
    })
    .await;

    let text = logs.text();
    let dropped = text
        .lines()
        .find(|line| line.contains("Delivery dropped unsettled"))
        .unwrap_or_else(|| panic!("the drop was not logged:\n{text}"));
    assert!(dropped.contains("ERROR"), "{dropped}");
    assert!(dropped.contains(&expected), "{dropped}");

    // Back in the queue: delivered again, marked as such, and acked this time.
    let id = expected.clone();
    first_delivery(&options, move |delivery| {
        Box::pin(async move {
            assert_eq!(delivery.message_id(), Some(id.as_str()));
            assert!(delivery.redelivered());
            if let Err(error) = delivery.ack().await {
                panic!("cannot ack: {error}");
            }
        })
    })
    .await;
    assert_eq!(env.queue_depth(&options.queue).await, 0);
}
