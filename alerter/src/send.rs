//! What the dispatcher needs of a channel: send one stored message, or say how it failed.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

/// Why a message was not delivered.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Retrying will not help (a wrong token, a payload the vendor refuses).
    pub permanent: bool,
    /// How long the vendor asked us to wait (Retry-After, a rate-limit error code).
    pub retry_after: Option<Duration>,
    /// For the log and the alerts API: the vendor's code and message.
    pub detail: String,
}

pub trait Sender: Send + Sync {
    /// Sends one message as stored (a `channels::Message` in JSON).
    fn send<'a>(&'a self, message: &'a Value) -> BoxFuture<'a, Result<(), Failure>>;
}
