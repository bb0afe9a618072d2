//! A service running inside a test's process: the future its `run_until_stopped` returns,
//! spawned with the token that stops it.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One service, spawned. Stop it with [`Spawned::stop_within`], which fails the test unless
/// it exits cleanly in time. Dropped unstopped (a test that panicked), it is cancelled and
/// aborted, so it leaves no consumer on the broker and declares nothing again after the
/// test's `TestEnv` deleted its queues.
pub struct Spawned {
    /// The service, for messages: `collector`, `processor` or `alerter`.
    name: &'static str,
    pub port: u16,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Spawned {
    /// Spawns `run`, which returns once `shutdown` is cancelled.
    pub fn spawn(
        name: &'static str,
        port: u16,
        shutdown: CancellationToken,
        run: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) -> Self {
        Self {
            name,
            port,
            shutdown,
            task: Some(tokio::spawn(run)),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Cancels the token and waits at most `limit` for the service to return `Ok`.
    pub async fn stop_within(mut self, limit: Duration) {
        self.shutdown.cancel();
        let Some(task) = self.task.take() else {
            return;
        };
        let name = self.name;
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => panic!("the {name} failed: {error:#}"),
            Ok(Err(error)) => panic!("the {name} panicked: {error}"),
            Err(_) => panic!("the {name} did not stop within {limit:?}"),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
