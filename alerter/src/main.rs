//! `alerter [--config PATH]`: configuration, telemetry, build, run until a signal.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = shared::config::Settings::load(shared::config::config_path().as_deref())
        .context("configuration")?;
    shared::telemetry::init(&settings.log);
    let shutdown = CancellationToken::new();
    shared::shutdown::cancel_on_signal(shutdown.clone());
    let app = alerter::Application::build(settings, shutdown)
        .await
        .context("starting the alerter")?;
    tracing::info!(port = app.port(), "Alerter listening.");
    app.run_until_stopped().await
}
