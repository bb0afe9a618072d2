//! What every request handler shares: built by `startup`, importing no handler.

use std::sync::Arc;

use ipnet::IpNet;
use shared::config::Project;
use shared::event::ProjectId;
use shared::publisher::Publisher;
use tokio::sync::Semaphore;

use crate::budget::Budget;
use crate::catalog::Catalog;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;
use crate::sentry::pages::Pages;

/// What every request handler shares.
pub struct State {
    /// Replaced whole by [`crate::refresh`] when the database's projects change.
    pub projects: Catalog,
    pub publisher: Arc<Publisher>,
    pub metrics: Metrics,
    pub trusted_proxies: Vec<IpNet>,
    pub max_body_bytes: usize,
    pub max_batch: usize,
    /// Body bytes buffered by all requests together.
    pub budget: Budget,
    /// Taken to parse a large body: one at a time across the workers.
    pub large_parse: Semaphore,
    pub rate_limits: RateLimits,
    /// Recent page loads of Sentry SDKs, for the vitals they send later without the page.
    pub pages: Pages,
    /// The processor's events go through partition queues: messages carry their key.
    pub partitioned: bool,
}

impl State {
    /// The project named by a path segment; `None` for garbage and unknown ids alike.
    pub fn project(&self, id: &str) -> Option<Arc<Project>> {
        id.parse::<ProjectId>()
            .ok()
            .and_then(|id| self.projects.get(id))
    }
}
