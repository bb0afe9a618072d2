use anyhow::Context;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = shared::config::Settings::load(shared::config::config_path().as_deref())
        .context("configuration")?;
    shared::telemetry::init(&settings.log);
    let shutdown = CancellationToken::new();
    shared::shutdown::cancel_on_signal(shutdown.clone());
    let app = collector::Application::build(settings, shutdown)
        .await
        .context("starting the collector")?;
    app.run_until_stopped().await
}
