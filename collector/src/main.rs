use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// glibc's `malloc`/`free` were about a fifth of the collector's CPU per event: every request
/// allocates and frees its body, events, answer and AMQP frames, across actix's and tokio's
/// threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
