//! End-to-end tests: the three services together against the real RabbitMQ and PostgreSQL.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod browser_sdk;
mod faults;
mod import_cycles;
mod pipeline;
mod readme;
mod secrets;
mod sentry_sdk;
mod sourcemaps;
mod support;
mod test_script;
