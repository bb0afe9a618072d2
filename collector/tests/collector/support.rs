//! What the collector's tests share: the application in-process or as its binary, an HTTP
//! client, raw TCP exchanges, and reading what reached the queue.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use lapin::options::BasicGetOptions;
use lapin::{Connection, ConnectionProperties};
use serde_json::{Value, json};
use shared::config::Settings;
use shared::testing::spawned::Spawned;
use shared::testing::{TestEnv, eventually};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

pub struct Running {
    pub base: String,
    running: Spawned,
}

impl Running {
    pub async fn start(settings: Settings) -> Self {
        shared::telemetry::init(&settings.log);
        let shutdown = CancellationToken::new();
        let app = collector::Application::build(settings, shutdown.clone())
            .await
            .expect("collector starts");
        let running = Spawned::spawn("collector", app.port(), shutdown, app.run_until_stopped());
        Self {
            base: running.base(),
            running,
        }
    }

    pub async fn stop(self) {
        self.running.stop_within(Duration::from_secs(30)).await;
    }

    pub fn events_url(&self, project: u32) -> String {
        format!("{}/api/{project}/events", self.base)
    }

    /// `GET /metrics`, as text.
    pub async fn metrics(&self) -> String {
        http()
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics answered")
            .text()
            .await
            .expect("metrics text")
    }

    /// `host:port`, for raw TCP.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub async fn json_body(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON body")
}

/// Alive, and still accepting a valid event: what "healthy afterwards" means.
pub async fn assert_healthy(base: &str, key: &str) {
    let health = http()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), 200);
    let response = http()
        .post(format!("{base}/api/1/events?key={key}"))
        .body(json!({"type": "click", "selector": "#still-alive"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200, "a valid event is still accepted");
}

/// The messages waiting in `queue`, taken from it.
pub async fn take_messages(env: &TestEnv, queue: &str) -> Vec<Value> {
    let connection = Connection::connect(
        env.settings.amqp.url.expose(),
        ConnectionProperties::default(),
    )
    .await
    .expect("connected");
    let channel = connection.create_channel().await.expect("channel");
    let mut messages = Vec::new();
    while let Some(message) = channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
    {
        messages.push(serde_json::from_slice(&message.delivery.data).expect("JSON message"));
    }
    let _ = connection.close(200, "done".into()).await;
    messages
}

/// What came back on a raw connection.
#[derive(Debug)]
pub struct Exchange {
    /// Everything read, as text (lossy).
    pub text: String,
    /// The status of the first response, if any.
    pub status: Option<u16>,
    /// The server closed the connection (or reset it) before `wait` ran out.
    pub closed: bool,
    /// From the end of the request to the close, or to giving up.
    pub elapsed: Duration,
}

impl Exchange {
    /// The JSON body of the first response.
    pub fn json(&self) -> Value {
        let body = self
            .text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .unwrap_or_default();
        let end = body.find("HTTP/1.1 ").unwrap_or(body.len());
        serde_json::from_str(&body[..end])
            .unwrap_or_else(|e| panic!("not a JSON body ({e}): {:?}", self.text))
    }
}

/// Sends `request` as raw bytes, optionally half-closes, and reads until the server closes the
/// connection or `wait` runs out.
pub async fn raw(addr: &str, request: &[u8], half_close: bool, wait: Duration) -> Exchange {
    let mut stream = TcpStream::connect(addr).await.expect("connected");
    // A server may answer and close before everything is written: that is an answer too.
    let _ = stream.write_all(request).await;
    if half_close {
        let _ = stream.shutdown().await;
    }
    read_until_closed(stream, wait).await
}

pub async fn read_until_closed(mut stream: impl AsyncRead + Unpin, wait: Duration) -> Exchange {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut buffer = [0u8; 8192];
    let closed = loop {
        let left = wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => break false,
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(n)) => read.extend_from_slice(&buffer[..n]),
        }
    };
    let text = String::from_utf8_lossy(&read).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    Exchange {
        text,
        status,
        closed,
        elapsed: started.elapsed(),
    }
}

/// The collector binary, configured for `env` with `extra` environment overrides.
pub struct Binary {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl Binary {
    pub async fn start(env: &TestEnv, extra: &[(&str, String)]) -> Self {
        let dir = std::env::temp_dir().join(format!("frontmon-{}", env.prefix));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("frontmon.toml");
        let settings = &env.settings;
        std::fs::write(
            &config,
            format!(
                "[amqp]\nurl = \"{}\"\nexchange = \"{}\"\n[collector]\nlisten = \"127.0.0.1:1\"\n\
                 [processor]\nqueue = \"{}\"\n[alerter]\nqueue = \"{}\"\n",
                settings.amqp.url.expose(),
                settings.amqp.exchange,
                settings.processor.queue,
                settings.alerter.queue
            ),
        )
        .expect("config written");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_collector"))
            .arg("--config")
            .arg(&config)
            .env("FRONTMON__COLLECTOR__LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .envs(extra.iter().map(|(key, value)| (key, value)))
            .spawn()
            .expect("collector binary starts");
        eventually(
            "the binary to be ready on the overridden port",
            Duration::from_secs(30),
            || async {
                let response = http()
                    .get(format!("http://127.0.0.1:{port}/readyz"))
                    .send()
                    .await
                    .ok()?;
                (response.status() == 200).then_some(())
            },
        )
        .await;
        Self {
            child: Some(child),
            port,
            dir,
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, and the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("joined")
            .expect("waited")
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        // A failed test must not leave the collector running.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
