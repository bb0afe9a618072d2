//! What every frontmon service needs, and nothing only one of them needs.
//!
//! The flow through the system is: the collector turns wire input into an [`event::Event`],
//! publishes it with the [`publisher::Publisher`] to the topic exchange described in
//! [`topology`], and the processor and alerter each read their own queue through
//! [`consumer`], settling every delivery with a [`consumer::Disposition`].
//!
//! Start with [`event`] (the data), then [`topology`] (where it goes), then [`config`]
//! (how each service is told where things are).

pub mod amqp;
pub mod auth;
pub mod config;
pub mod consumer;
#[cfg(feature = "db")]
pub mod db;
pub mod event;
pub mod grouping;
pub mod health;
pub mod notice;
pub mod partition;
pub mod publisher;
pub mod query;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod topology;

#[cfg(feature = "testing")]
pub mod testing;
