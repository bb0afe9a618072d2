//! Connections to RabbitMQ, opened alike by every service.
//!
//! `amqp.url` may list the nodes of a cluster. [`connect`] tries them in turn, starting one
//! further along the list at every call (from a random place per process), so the clients
//! of a deployment spread over the nodes, and a client whose node went away reaches another
//! on its next attempt. Every connection of every service, first and reconnect alike, is
//! opened here.

use std::hash::{BuildHasher, RandomState};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};

/// The largest AMQP frame we negotiate, unless the URL asks for another (`?frame_max=`).
///
/// lapin keeps a receive and a send buffer of 32 frames per connection, zero-filled: at
/// RabbitMQ's default of 128 KiB that is 8 MiB resident per connection before a single
/// message, which was most of an idle service's memory. At 16 KiB it is 1 MiB. Our messages
/// are events of about 1 KiB, so frames this size split none of them; a larger one is sent
/// as several body frames, as AMQP does for any message over the frame size.
pub const FRAME_MAX: u32 = 16 * 1024;

/// How long one node of several may take to open a connection before the next is tried. A
/// paused or partitioned node accepts the TCP connection (the kernel does) and then never
/// answers the handshake; without this bound it would hold the caller until its own timeout
/// and the nodes after it would never be tried. With a single URL the caller's timeout
/// governs, as it always has.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the next [`connect`] starts in the list: random per process, so that services
/// started together do not all pick the first node, then one further at every call.
static NEXT_NODE: LazyLock<AtomicUsize> = LazyLock::new(|| {
    // Truncating the random hash to the platform's width is fine: any start will do.
    AtomicUsize::new(RandomState::new().hash_one(std::process::id()) as usize)
});

/// Opens a connection named `name` in the broker's connection list, where operators (and
/// tests) find it, to the first node of `urls` (one AMQP URL, or several comma-separated, as
/// [`crate::config::AmqpUrl::expose`] gives them) that accepts it. Fails with the last
/// node's error when none does.
pub async fn connect(urls: &str, name: &str) -> Result<Connection, lapin::Error> {
    let nodes: Vec<&str> = urls.split(',').map(str::trim).collect();
    if let [url] = nodes.as_slice() {
        return connect_node(url, name).await;
    }
    let mut last_error = None;
    for index in node_order(nodes.len()) {
        let opened = tokio::time::timeout(NODE_TIMEOUT, connect_node(nodes[index], name))
            .await
            .unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()));
        match opened {
            Ok(connection) => return Ok(connection),
            Err(error) => {
                // The node's position, not its URL: the URL holds the password.
                tracing::debug!(node = index + 1, error = %error, "AMQP node unreachable; trying the next.");
                last_error = Some(error);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound).into()))
}

/// The order in which one call tries `count` nodes: each of them once, from one further
/// along than the previous call started.
fn node_order(count: usize) -> impl Iterator<Item = usize> {
    let start = NEXT_NODE.fetch_add(1, Ordering::Relaxed);
    let start = start % count;
    (0..count).map(move |attempt| (start + attempt) % count)
}

async fn connect_node(url: &str, name: &str) -> Result<Connection, lapin::Error> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    match url.parse::<AMQPUri>() {
        Ok(mut uri) => {
            uri.query.frame_max.get_or_insert(FRAME_MAX);
            Connection::connect_uri(uri, properties).await
        }
        // Let lapin report the malformed URL in its own words.
        Err(_) => Connection::connect(url, properties).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_tries_every_node_once_starting_one_further_along() {
        let first: Vec<usize> = node_order(3).collect();
        let second: Vec<usize> = node_order(3).collect();
        for order in [&first, &second] {
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2], "{order:?}");
        }
        // Nothing else in these unit tests connects to a list, so nothing took a turn between.
        assert_ne!(first[0], second[0], "{first:?} then {second:?}");
    }
}
