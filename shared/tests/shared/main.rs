//! `shared` against the real RabbitMQ: `consumer`, the delivery wrapper and the consume loop;
//! `amqp`, connecting to one of several nodes.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod amqp;
mod consumer;
