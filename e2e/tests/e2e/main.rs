//! End-to-end tests: the three services together against the real RabbitMQ and PostgreSQL.

#![allow(clippy::expect_used, clippy::unwrap_used)]
// The fault tests print the figures they measured (docs/operations.md quotes them).
#![allow(clippy::print_stdout)]

mod access;
mod browser_sdk;
mod cluster;
mod dashboard;
mod dashboard_alerts;
mod faro_sdk;
mod faults;
mod import_cycles;
mod pipeline;
mod privacy;
mod readme;
mod repartition;
mod secrets;
mod sentry_sdk;
mod settings;
mod sourcemaps;
mod support;
mod test_script;
