//! The alerter: tells people when their front ends throw errors, without paging them for
//! every one.
//!
//! It reads its own queue (bound to `error.*` and the processor's `issue.*` notices), so its
//! counting rules keep working while the processor is down; new issues and regressions are
//! the processor's word (`issue.created`, `issue.regressed`), since only the processor groups
//! errors after resolving source maps. Each delivery goes through the [`pipeline`]: errors
//! grouped by the shared function, then events and notices given to the [`rules`] engine
//! (new issue, regression, frequency, users, spike; cooldowns with one escalation). What
//! fires becomes one notification per channel, written to PostgreSQL ([`store`], the
//! alerter's own schema) before the delivery is acknowledged ([`consumer`]).
//!
//! One [`dispatch`]er per channel sends them from there: within the vendor's rate limit
//! ([`limiter`]), folded into a digest when more are due than it allows or when quiet hours
//! end ([`compose`]), retried with backoff, and, when a vendor refuses for good or the retry
//! budget runs out, recorded as failed with what triggered it dead-lettered
//! ([`dead_letter`]). The [`channels`] are the vendors: webhook, DingTalk, Feishu/Lark,
//! WeCom, Slack, email. The [`api`] lists what was notified and tests a channel.
//!
//! Start with [`startup`], which wires it all together, then [`pipeline`].

mod api;
pub mod channels;
mod compose;
mod consumer;
mod dead_letter;
mod dispatch;
mod limiter;
mod metrics;
mod pipeline;
mod projects;
mod rules;
mod send;
mod signature;
mod startup;
mod store;
mod words;

pub use startup::Application;
