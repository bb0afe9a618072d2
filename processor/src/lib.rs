//! The processor: stores every event and serves them back.
//!
//! It consumes its own queue (bound to `#`, so every event) with manual acks and a prefetch
//! ([`consume`]), writes deliveries to PostgreSQL in batches, one transaction each
//! ([`db::batch`]; the SQL, by table, is in [`db`]), and acks only after the commit. The
//! event id is the primary key, so a redelivery is absorbed, never stored twice. The read API
//! ([`api`]) lists events, fetches one, and counts them per routing key over time.
//!
//! Errors are grouped into issues in the same transaction ([`issues`]); a resolved issue that
//! comes back, or one resolved through the API, is announced on the exchange through the
//! [`outbox`].
//!
//! The projects are the database's, seeded from the configuration at start ([`projects`]).
//!
//! Events are partitioned by day; [`lifecycle`] creates the partitions ahead and drops what
//! is past its retention.
//!
//! Start at [`startup`] (how it is wired), then [`consume`] (a batch, from delivery to ack).
//!
//! [`analytics`], [`db`], [`issues`] and [`user_agent`] are public for the benchmark's data
//! generator, which writes a large data set with the processor's own rollups, issues and
//! partitions rather than copies of them.

pub mod analytics;
mod api;
pub mod artifacts;
mod consume;
pub mod db;
mod enrich;
pub mod issues;
mod lifecycle;
mod metrics;
mod outbox;
mod projects;
mod startup;
pub mod symbolicate;
pub mod user_agent;

pub use startup::Application;
