//! Folds the batches' pending rollup additions into the rollup tables
//! ([`crate::db::rollups::fold`]) as batches commit: at most [`INTERVAL`] after the first
//! unfolded batch while batches keep coming (a hot page's row is then upserted once for
//! many batches), and at once when they stop for [`QUIET`]. The analytics reads fold first
//! too, so an answer never waits for this schedule.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use super::Analytics;
use crate::db::rollups;

/// The longest a committed batch waits to be folded while batches keep coming.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// No batch for this long: the backlog is drained, fold what there is.
pub const QUIET: Duration = Duration::from_millis(50);

/// Folds until `shutdown`: once at start (what a stopped processor left pending), then
/// after each run of batches; a failed fold is retried every [`INTERVAL`].
pub async fn run(pool: PgPool, analytics: Arc<Analytics>, shutdown: CancellationToken) {
    loop {
        if let Err(error) = rollups::fold(&pool).await {
            tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "Rollups not folded; retrying.");
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = sleep(INTERVAL) => continue,
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = analytics.next_stored() => {}
        }
        let deadline = Instant::now() + INTERVAL;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = sleep_until(deadline) => break,
                more = timeout(QUIET, analytics.next_stored()) => if more.is_err() { break },
            }
        }
    }
}
