//! End-to-end tests of frontmon: the tests in `tests/` run the collector, processor and
//! alerter in one process against the real RabbitMQ and PostgreSQL, and check the promises
//! the broker is there for: every accepted event stored exactly once, every error notified,
//! and either consumer able to be down while the collector keeps accepting.
//!
//! This crate has no code of its own.
