//! The documented default secrets: each service, built as `main` builds it, refuses them when
//! it listens beyond loopback, before it connects to anything or binds a port.

use shared::config::{AdminToken, DEFAULT_ADMIN_TOKEN, DEMO_PUBLIC_KEY, PublicKey, Settings};
use shared::testing::TestEnv;
use tokio_util::sync::CancellationToken;

/// The test's settings with the public demo key, the default admin token, and every service
/// listening on all interfaces (port 0: nothing else on the machine is disturbed).
fn exposed_with_defaults(env: &TestEnv) -> Settings {
    let mut settings = env.settings.clone();
    settings.collector.listen = "0.0.0.0:0".parse().unwrap();
    settings.processor.listen = "[::]:0".parse().unwrap();
    settings.alerter.listen = "0.0.0.0:0".parse().unwrap();
    settings.processor.admin_token = AdminToken::parse(DEFAULT_ADMIN_TOKEN).unwrap();
    settings.projects[0].public_keys = vec![PublicKey::parse(DEMO_PUBLIC_KEY).unwrap()];
    settings
}

fn refusal<T>(built: anyhow::Result<T>) -> String {
    match built {
        Ok(_) => panic!("started with the documented default secrets, listening beyond loopback"),
        Err(error) => format!("{error:#}"),
    }
}

#[tokio::test]
async fn services_listening_beyond_loopback_refuse_the_default_secrets() {
    let env = TestEnv::new();
    let settings = exposed_with_defaults(&env);

    let shutdown = CancellationToken::new();
    let text = refusal(collector::Application::build(settings.clone(), shutdown.clone()).await);
    assert!(
        text.contains("project 1's public_key is the demo key"),
        "{text}"
    );
    assert!(text.contains("openssl rand -hex 16"), "{text}");
    let text = refusal(processor::Application::build(settings.clone(), shutdown.clone()).await);
    assert!(text.contains("processor.admin_token"), "{text}");
    assert!(text.contains("FRONTMON__PROCESSOR__ADMIN_TOKEN"), "{text}");
    let text = refusal(alerter::Application::build(settings, shutdown).await);
    assert!(text.contains("processor.admin_token"), "{text}");
}
