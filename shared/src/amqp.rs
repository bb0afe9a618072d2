//! Connections to RabbitMQ, opened alike by every service.

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

/// Opens a connection named `name` in the broker's connection list, where operators (and
/// tests) find it.
pub async fn connect(url: &str, name: &str) -> Result<Connection, lapin::Error> {
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
