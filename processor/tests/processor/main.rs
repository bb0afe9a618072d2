//! The processor against the real RabbitMQ and PostgreSQL. Each test has its own exchange,
//! queues and database (`TestEnv`), so they run in parallel, and twice in a row.
//!
//! - `analytics`: the vitals and traffic endpoints against exact SQL over the raw events.
//! - `analytics_problems`: the errors, releases, API health and white screens endpoints,
//!   the same way.
//! - `api`: what is stored can be read back, listed, paged and counted; the API's errors.
//! - `delivery`: redeliveries, poison and rows the database refuses, one disposition each.
//! - `erasure`: a user's events and issue user keys erased, nothing else.
//! - `issues`: errors grouped into issues, counted once, resolved and regressed.
//! - `lifecycle`: a backlog, a graceful stop under load, and two processors on one queue.
//! - `partitions`: events spread over partition queues by key, and a standby processor.
//! - `retention`: partitions created ahead, copies stored once across them, expired days
//!   dropped (once, with two processors), shorter project windows, source maps, the migration.
//! - `sourcemaps`: source maps uploaded, replaced, listed and deleted; never served back.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod analytics;
mod analytics_problems;
mod api;
mod delivery;
mod erasure;
mod issues;
mod lifecycle;
mod partitions;
mod retention;
mod sourcemaps;
mod support;
mod symbolicate;
