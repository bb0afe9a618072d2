//! `amqp.url` listing several nodes against the real RabbitMQ: a node that refuses, or one
//! that accepts and never answers, is passed over for the next, by every way in; a publisher
//! whose node goes silent moves to another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use shared::config::AmqpUrl;
use shared::consumer::{ConsumeOptions, Subscription, run};
use shared::event::{EventId, ProjectId};
use shared::health::ReadyFlag;
use shared::publisher::{Outgoing, PublishError, Publisher, PublisherOptions};
use shared::testing::{TestEnv, eventually, publish_confirmed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// A TCP relay to the broker that can stop passing bytes on, both ways: its connections stay
/// open and go silent, as a paused or cut-off node's do.
struct Relay {
    port: u16,
    paused: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
}

impl Relay {
    async fn start(broker: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let paused = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (relay_paused, relay_accepted) = (paused.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                relay_accepted.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = tokio::net::TcpStream::connect(&broker).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pass_on(client_read, server_write, relay_paused.clone()));
                tokio::spawn(pass_on(server_read, client_write, relay_paused.clone()));
            }
        });
        Self {
            port,
            paused,
            accepted,
        }
    }

    /// `url` with this relay's address in place of the broker's `host:port`.
    fn url(&self, url: &str, broker: &str) -> String {
        url.replace(broker, &format!("127.0.0.1:{}", self.port))
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }
}

async fn pass_on(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    paused: Arc<AtomicBool>,
) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        // Paused: what was read is held, and nothing more is read, as from a stopped process.
        while paused.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

fn event() -> Outgoing {
    Outgoing {
        event_id: EventId::new_random(),
        project_id: ProjectId::new(1).expect("project 1"),
        routing_key: "error.js".parse().expect("routing key"),
        received_at: Utc::now(),
        body: b"{}".to_vec(),
        partition_key: None,
    }
}

#[tokio::test]
async fn a_publisher_whose_node_goes_silent_moves_to_another_node() {
    let env = TestEnv::new();
    let url = env.settings.amqp.url.expose().to_owned();
    let uri: lapin::uri::AMQPUri = url.parse().expect("an AMQP URL");
    let broker = format!("{}:{}", uri.authority.host, uri.authority.port);
    assert!(url.contains(&broker), "{url} names its port");
    let relays = [
        Relay::start(broker.clone()).await,
        Relay::start(broker.clone()).await,
    ];
    let urls = format!(
        "{},{}",
        relays[0].url(&url, &broker),
        relays[1].url(&url, &broker)
    );
    let timeout = Duration::from_secs(2);
    let publisher = Publisher::connect(PublisherOptions {
        url: urls,
        topology: env.topology(),
        channels: 1,
        timeout,
        connection_name: format!("{}.silent-publisher", env.prefix),
    })
    .await
    .expect("connected through a relay");
    publish_confirmed(&publisher, &[event()]).await;
    let (silent, other) = if relays[0].accepted() > 0 {
        (&relays[0], &relays[1])
    } else {
        (&relays[1], &relays[0])
    };
    assert_eq!((silent.accepted(), other.accepted()), (1, 0));

    silent.pause();
    let error = publisher.publish(&[event()]).await.expect_err("no answer");
    assert!(matches!(error, PublishError::Timeout(_)), "{error}");
    // The next calls reconnect (once a second at most, each trying the nodes from one further
    // along) until one reaches the other node; before, every call waited out its timeout on
    // the silent connection until the node came back.
    eventually(
        "a publish through the other node",
        Duration::from_secs(20),
        || async { publisher.publish(&[event()]).await.ok() },
    )
    .await;
    assert_eq!(other.accepted(), 1);
}
