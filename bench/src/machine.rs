//! What the numbers were measured on: cores, CPU model, memory, broker and database versions.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

#[derive(Debug, Clone)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
    pub rabbitmq: String,
    pub postgres: String,
}

impl Machine {
    /// Never fails: what cannot be found is reported as unknown.
    pub async fn describe(database_url: &str) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(unknown),
            memory: field(&meminfo, "MemTotal")
                .and_then(|kb| kb.split_whitespace().next()?.parse::<f64>().ok())
                .map(|kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0))
                .unwrap_or_else(unknown),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| unknown()),
            rabbitmq: rabbitmq_version().await.unwrap_or_else(unknown),
            postgres: postgres_version(database_url).await.unwrap_or_else(unknown),
        }
    }
}

fn unknown() -> String {
    "unknown".into()
}

/// The value of the first `key : value` line (`/proc/cpuinfo`, `/proc/meminfo`).
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == key).then(|| value.trim().to_owned())
    })
}

/// `rabbitmqctl version`: lapin does not expose the server properties of its connection.
async fn rabbitmq_version() -> Option<String> {
    let output = tokio::time::timeout(
        Duration::from_secs(15),
        tokio::process::Command::new("rabbitmqctl")
            .arg("version")
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    let version = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !version.is_empty()).then(|| format!("RabbitMQ {version}"))
}

async fn postgres_version(database_url: &str) -> Option<String> {
    let mut connection = PgConnection::connect(database_url).await.ok()?;
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&mut connection)
        .await
        .ok()?;
    let _ = connection.close().await;
    // "PostgreSQL 15.20 (Debian …) on x86_64-pc-linux-gnu, compiled by …": the first part.
    Some(version.split(" on ").next().unwrap_or(&version).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_from_proc_style_text() {
        let cpuinfo =
            "processor\t: 0\nmodel name\t: AMD EPYC\nprocessor\t: 1\nmodel name\t: AMD EPYC\n";
        assert_eq!(field(cpuinfo, "model name").as_deref(), Some("AMD EPYC"));
        assert_eq!(field(cpuinfo, "flags"), None);
    }
}
