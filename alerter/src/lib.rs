//! The alerter: tells people when their front ends throw errors.
//!
//! It reads the `error.*` events the collector publishes, from its own queue (so it can be
//! down, or slow, without holding up the collector or the processor), and POSTs a JSON
//! [`notification`] to every webhook channel configured in `[[alerter.channels]]`, signed
//! with the channel's secret ([`signature`]).
//!
//! Flow of one delivery ([`consumer`]): decode the [`shared::event::Event`] (a body that is
//! not one is dead-lettered), ask the [`cooldown`] whether the same problem was notified
//! recently (then ack and count it), otherwise send to every [`webhook`] at once
//! ([`notifier`]), retrying each failing channel in-process with backoff ([`retry`]) while
//! the delivery stays unacknowledged. Ack when every channel answered 2xx; dead-letter when
//! a channel still fails after the retry budget; hand the delivery back to the queue only
//! when shutdown or a lost connection interrupts it.
//!
//! Start with [`startup`], which wires it all together, then [`consumer`]. Everything the
//! alerter measures is in [`metrics`]; its HTTP port serves only `/healthz`, `/readyz` and
//! `/metrics`.

pub mod consumer;
pub mod cooldown;
pub mod metrics;
pub mod notification;
pub mod notifier;
pub mod retry;
pub mod signature;
pub mod startup;
pub mod webhook;

pub use startup::Application;

/// An error and its causes, `outer: inner: innermost`, for logs.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
