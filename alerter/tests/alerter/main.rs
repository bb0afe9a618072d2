//! The alerter against the real RabbitMQ and PostgreSQL, with local stand-ins for the chat
//! vendors and a mail server: rules, noise control, channels, restarts and outages.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod alerts;
mod channels;
mod fakes;
mod support;
