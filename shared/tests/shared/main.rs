//! `shared` against the real RabbitMQ: `consumer`, the delivery wrapper and the consume loop.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod consumer;
