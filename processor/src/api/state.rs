//! What the read API's handlers share: built by `startup`, importing no handler.

use std::collections::HashSet;

use actix_web::web;
use dashboard::Dashboard;
use shared::config::Secret;
use shared::event::ProjectId;

use crate::artifacts::ArtifactStore;
use crate::db::Store;
use crate::issues::Issues;

/// What the read API's handlers share.
pub struct State {
    pub store: Store,
    pub issues: Issues,
    pub admin_token: Secret,
    pub projects: HashSet<ProjectId>,
    pub artifacts: ArtifactStore,
    /// The largest file a source map upload may carry.
    pub sourcemap_max_bytes: usize,
    /// Sessions of the dashboard, which the read API accepts beside the admin token.
    pub dashboard: web::Data<Dashboard>,
}
