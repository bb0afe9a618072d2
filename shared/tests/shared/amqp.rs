//! `amqp.url` listing several nodes against the real RabbitMQ: a node that refuses, or one
//! that accepts and never answers, is passed over for the next, by every way in.

use std::time::{Duration, Instant};

use chrono::Utc;
use shared::config::AmqpUrl;
use shared::consumer::{ConsumeOptions, Subscription, run};
use shared::event::{EventId, ProjectId};
use shared::health::ReadyFlag;
use shared::publisher::Outgoing;
use shared::testing::{TestEnv, publish_confirmed};
use tokio_util::sync::CancellationToken;

/// A local port nothing listens on: connecting to it is refused at once.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn node(port: u16) -> String {
    format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
}

#[tokio::test]
async fn a_refusing_node_is_passed_over_for_the_next() {
    let mut env = TestEnv::new();
    let real = env.settings.amqp.url.expose().to_owned();
    let urls = format!("{},{real}", node(closed_port()));
    env.settings.amqp.url = AmqpUrl::parse(&urls).expect("valid list");

    // Each call starts one further along the list: four calls start twice at each node, and
    // every one reaches the broker.
    for call in 0..4 {
        let connection = shared::amqp::connect(&urls, &format!("{}.list", env.prefix))
            .await
            .unwrap_or_else(|e| panic!("call {call}: {e}"));
        assert!(connection.status().connected());
        let _ = connection.close(200, "done".into()).await;
    }

    // The collector's publisher and the consumers open their connections the same way.
    let publisher = env.publisher().await;
    let event_id = EventId::new_random();
    publish_confirmed(
        &publisher,
        &[Outgoing {
            event_id,
            project_id: ProjectId::new(1).expect("project 1"),
            routing_key: "error.js".parse().expect("routing key"),
            received_at: Utc::now(),
            body: b"{}".to_vec(),
            partition_key: None,
        }],
    )
    .await;
    publisher.close().await;
    let topology = env.topology();
    let options = ConsumeOptions {
        url: urls,
        queue: topology.processor.name.clone(),
        topology,
        prefetch: 10,
        connection_name: format!("{}.list-consumer", env.prefix),
    };
    let shutdown = CancellationToken::new();
    let received = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = received.clone();
    run(
        options,
        shutdown.clone(),
        ReadyFlag::default(),
        |mut subscription: Subscription| {
            let (shutdown, seen) = (shutdown.clone(), seen.clone());
            async move {
                if let Some(Ok(delivery)) = subscription.recv().await {
                    *seen.lock().unwrap() = delivery.message_id().map(str::to_owned);
                    delivery.ack().await.expect("ack");
                }
                subscription.close().await;
                shutdown.cancel();
            }
        },
    )
    .await;
    assert_eq!(
        received.lock().unwrap().as_deref(),
        Some(event_id.to_string().as_str())
    );
}

#[tokio::test]
async fn a_node_that_never_answers_is_passed_over_after_the_node_timeout() {
    let env = TestEnv::new();
    // Listening but never accepting: the kernel completes the TCP handshake, and the AMQP
    // handshake never gets an answer, as from a paused (SIGSTOPped) broker.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("address").port();
    let urls = format!("{},{}", node(silent_port), env.settings.amqp.url.expose());
    // Calls start one further along the list each (other tests' calls may take turns in
    // between): connect until one has started at the silent node.
    let mut slowest = Duration::ZERO;
    for call in 0..8 {
        let started = Instant::now();
        let connection = shared::amqp::connect(&urls, &format!("{}.silent", env.prefix))
            .await
            .unwrap_or_else(|e| panic!("call {call}: {e}"));
        slowest = slowest.max(started.elapsed());
        let _ = connection.close(200, "done".into()).await;
        if slowest >= shared::amqp::NODE_TIMEOUT {
            break;
        }
    }
    assert!(
        slowest >= shared::amqp::NODE_TIMEOUT,
        "no call started at the silent node: {slowest:?}"
    );
    // It gave up on the silent node after the timeout and reached the broker.
    assert!(
        slowest < shared::amqp::NODE_TIMEOUT + Duration::from_secs(10),
        "{slowest:?}"
    );
    drop(silent);
}
