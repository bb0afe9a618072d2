//! The collector: frontmon's public HTTP endpoint.
//!
//! Browsers POST events to `/api/{project_id}/events`. A request is authenticated by the
//! project's public key ([`ingest`]), its body is read within a size limit, decompressed and
//! parsed into typed [`shared::event::Event`]s ([`payload`]), and every event is published to
//! the topic exchange through the one shared, confirming [`shared::publisher::Publisher`].
//! The answer is 2xx only once the broker has confirmed every event of the request; if it
//! cannot, 503 with `Retry-After`, so a 2xx always means "durable in RabbitMQ".
//!
//! Start at [`startup`] (how it is wired), then [`ingest`] (one request, top to bottom).

pub mod client;
pub mod cors;
pub mod envelope;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod payload;
pub mod startup;

pub use startup::Application;
