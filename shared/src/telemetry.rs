//! Logging through `tracing`, pretty for people or JSON for log shippers.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber, writing to stdout. `RUST_LOG`, when set, wins over
/// `log.filter`. A second call (tests build several services in one process) keeps the first
/// subscriber.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ));
    let _ = match settings.format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Whether the pretty format may use ANSI colour codes: only on a terminal (a file or a pipe,
/// such as `scripts/run-local`'s prefixing, would keep them as garbage), and not when
/// `NO_COLOR` is set to anything but the empty string (<https://no-color.org>).
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Set in the copy of this test binary that [`logs_to_a_pipe_carry_no_colour_codes`]
    /// runs: that copy logs one line through [`init`] and exits.
    const CHILD: &str = "FRONTMON_TELEMETRY_TEST_CHILD";

    #[test]
    fn logs_to_a_pipe_carry_no_colour_codes() {
        if std::env::var_os(CHILD).is_some() {
            init(&LogSettings::default());
            tracing::warn!(event_id = "e1", "Logged through a pipe.");
            return;
        }
        // The same test, in a process of its own whose stdout is a pipe.
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "telemetry::tests::logs_to_a_pipe_carry_no_colour_codes",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        assert!(stdout.contains("Logged through a pipe."), "{stdout}");
        assert!(stdout.contains("event_id"), "{stdout}");
        assert!(
            !stdout.contains('\x1b'),
            "colour codes in a pipe: {stdout:?}"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }
}
