//! The collector: frontmon's public HTTP endpoint.
//!
//! Browsers POST events to `/api/{project_id}/events`. A request is authenticated by the
//! project's public key ([`ingest`]), its body is read within a size limit and a time limit
//! and decompressed ([`body`]), against a memory budget shared by all requests ([`budget`]),
//! and parsed into typed [`shared::event::Event`]s ([`payload`]); what looks like a secret in
//! them is replaced with `[Filtered]` ([`scrub`]); every event is published to
//! the topic exchange through the one shared, confirming [`shared::publisher::Publisher`].
//! The answer is 2xx only once the broker has confirmed every event of the request; if it
//! cannot, 503 with `Retry-After`, so a 2xx always means "durable in RabbitMQ".
//!
//! The endpoint is public, so every input is hostile until parsed: each refusal is a 4xx with
//! a JSON body saying what is wrong ([`error`]), and no input can crash the collector, hold
//! a connection forever or make it allocate without bound.
//!
//! Sentry SDKs send envelopes to `/api/{project_id}/envelope/` ([`sentry`]), which become the
//! same events, and so do Grafana Faro's batches to `/collect` ([`faro`]). Every endpoint draws
//! from the project's rate limit ([`rate_limit`]).
//!
//! The projects and their keys come from the database, read every few seconds into a set
//! the requests share ([`refresh`], [`catalog`]); a request never waits for the database.
//!
//! Start at [`startup`] (how it is wired: [`state`] is what the handlers share, [`routes`]
//! which handler answers what), then [`ingest`] (one request, top to bottom).

pub mod body;
mod budget;
mod catalog;
mod client;
mod cors;
mod error;
mod faro;
mod ingest;
mod metrics;
pub mod payload;
mod rate_limit;
mod refresh;
mod relay;
mod routes;
pub mod scrub;
mod sdk_file;
pub mod sentry;
mod startup;
mod state;

pub use startup::Application;
