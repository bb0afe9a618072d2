//! The real services, as child processes: the release binaries next to the bench's own
//! executable, started with the run's configuration file and a free port each, and stopped
//! the way a deployment stops them (SIGTERM, then wait).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::client;
use crate::error::BenchError;
use crate::sandbox::Sandbox;
use crate::usage::{self, Memory};

/// How long a service may take to become ready, and to stop after SIGTERM.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Collector,
    Processor,
    Alerter,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Collector, Service::Processor, Service::Alerter];

    /// The binary's name, which is also its configuration section.
    pub fn name(self) -> &'static str {
        match self {
            Service::Collector => "collector",
            Service::Processor => "processor",
            Service::Alerter => "alerter",
        }
    }
}

pub struct Launcher {
    bin_dir: PathBuf,
    config_path: PathBuf,
    log_dir: PathBuf,
}

impl Launcher {
    /// Finds the binaries of `services` beside the running executable (`target/release/`),
    /// where `scripts/bench` has just built them with the same profile.
    pub fn new(sandbox: &Sandbox, services: &[Service]) -> Result<Self, BenchError> {
        let exe = std::env::current_exe().map_err(|source| BenchError::Io {
            context: "finding the bench executable".into(),
            source,
        })?;
        let bin_dir = exe.parent().unwrap_or(Path::new(".")).to_path_buf();
        for &service in services {
            if !bin_dir.join(service.name()).is_file() {
                return Err(BenchError::Usage(format!(
                    "{} is missing: build it first (scripts/bench does: cargo build --release \
                     -p collector -p processor -p alerter -p bench)",
                    bin_dir.join(service.name()).display()
                )));
            }
        }
        Ok(Self {
            bin_dir,
            config_path: sandbox.config_path.clone(),
            log_dir: sandbox.dir.clone(),
        })
    }

    /// Starts a service and waits until its `/readyz` answers 200.
    pub async fn start(&self, service: Service) -> Result<Running, BenchError> {
        let mut running = self.spawn(service)?;
        running.wait_ready().await?;
        Ok(running)
    }

    /// Starts another build of a service, from `binary`, and waits until it is ready; it
    /// logs to `<name>-<label>.log`.
    pub async fn start_binary(
        &self,
        service: Service,
        binary: &Path,
        label: &str,
    ) -> Result<Running, BenchError> {
        let log = format!("{}-{label}", service.name());
        let mut running = self.spawn_from(service, binary, &log, &[])?;
        running.wait_ready().await?;
        Ok(running)
    }

    /// Starts a service without waiting for it: for timings that include its start.
    pub fn spawn(&self, service: Service) -> Result<Running, BenchError> {
        self.spawn_with(service, &[])
    }

    /// [`Launcher::spawn`], with these environment overrides (`FRONTMON__SECTION__KEY`).
    pub fn spawn_with(
        &self,
        service: Service,
        env: &[(&str, &str)],
    ) -> Result<Running, BenchError> {
        self.spawn_from(
            service,
            &self.bin_dir.join(service.name()),
            service.name(),
            env,
        )
    }

    fn spawn_from(
        &self,
        service: Service,
        binary: &Path,
        log_name: &str,
        env: &[(&str, &str)],
    ) -> Result<Running, BenchError> {
        let failed = |problem: String| BenchError::Service {
            service: service.name(),
            problem,
        };
        let addr = free_local_port().map_err(|e| failed(format!("has no free port: {e}")))?;
        let log = self.log_dir.join(format!("{log_name}.log"));
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| failed(format!("cannot log to {}: {e}", log.display())))?;
        let errors = output
            .try_clone()
            .map_err(|e| failed(format!("cannot log to {}: {e}", log.display())))?;
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            // Last resort if the bench itself fails: a service left behind would keep
            // consuming from queues that are about to be deleted.
            .kill_on_drop(true);
        // Only our file and our overrides: a FRONTMON__… or RUST_LOG of the caller's shell
        // must not point a service at a real deployment or flood the log.
        for (key, _) in std::env::vars_os() {
            if key
                .to_str()
                .is_some_and(|k| k.starts_with("FRONTMON_") || k == "RUST_LOG")
            {
                command.env_remove(key);
            }
        }
        command.env(
            format!("FRONTMON__{}__LISTEN", service.name().to_uppercase()),
            addr.to_string(),
        );
        command.envs(env.iter().copied());
        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| failed(format!("cannot be started: {e}")))?;
        let pid = child
            .id()
            .ok_or_else(|| failed("exited at once".to_owned()))?;
        Ok(Running {
            service,
            child,
            pid,
            addr,
            log,
            spawned_at,
        })
    }
}

/// A port nobody listens on now. Another process could take it before the service binds
/// it; on a machine running a benchmark that is unlikely, and would fail loudly.
fn free_local_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

pub struct Running {
    service: Service,
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
    pub spawned_at: Instant,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn failed(&self, problem: String) -> BenchError {
        BenchError::Service {
            service: self.service.name(),
            problem: format!(
                "{problem}\n--- last lines of {} ---\n{}",
                self.log.display(),
                tail(&self.log)
            ),
        }
    }

    pub async fn wait_ready(&mut self) -> Result<(), BenchError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failed(format!("exited before it was ready ({status})")));
            }
            if let Ok((status, _)) = client::get(self.addr, "/readyz").await
                && status.is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.failed(format!("was not ready within {READY_TIMEOUT:?}")));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn memory(&self) -> Result<Memory, BenchError> {
        usage::memory(self.pid).map_err(|e| self.failed(format!("has no /proc status: {e}")))
    }

    /// The value of one counter or gauge on `/metrics`; `None` until the service answers.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let (status, body) = client::get(self.addr, "/metrics").await.ok()?;
        if !status.is_success() {
            return None;
        }
        metric_value(std::str::from_utf8(&body).ok()?, name)
    }

    /// SIGTERM, then waits for a clean exit (0); kills it if it does not stop in time.
    pub async fn stop(mut self) -> Result<(), BenchError> {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if !signalled.is_ok_and(|status| status.success()) {
            let _ = self.child.kill().await;
            return Err(self.failed("could not be sent SIGTERM; killed".to_owned()));
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(self.failed(format!("exited with {status} after SIGTERM"))),
            Ok(Err(error)) => Err(self.failed(format!("could not be waited for: {error}"))),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(self.failed(format!(
                    "did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed"
                )))
            }
        }
    }
}

/// The last lines of a service's log, for an error message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A sample's value in Prometheus text: the line `name value` (no labels).
fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_are_found_by_exact_name() {
        let text = "# TYPE frontmon_alerter_events_consumed counter\n\
                    frontmon_alerter_events_consumed_total_extra 1\n\
                    frontmon_alerter_events_consumed_total 1234\n";
        assert_eq!(
            metric_value(text, "frontmon_alerter_events_consumed_total"),
            Some(1234.0)
        );
        assert_eq!(metric_value(text, "frontmon_missing_total"), None);
    }
}
