//! The dashboard's accounts against the real PostgreSQL, each test in its own database
//! (`TestEnv`).
//!
//! - `accounts`: sign-in, sessions (live, signed out, expired, after a password change) and
//!   the sign-in throttle per account and per address.
//! - `alerts`: the alerter's notifications as the Alerts screen reads them (none before the
//!   alerter first started; newest first; one project's; by cursor).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod accounts;
mod alerts;
