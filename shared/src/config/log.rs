use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `frontmon=debug,lapin=warn`); `RUST_LOG` wins over it.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            // actix-http logs every malformed request at ERROR: anyone on the internet could
            // fill the log. The client gets its 4xx; the log does not need it.
            filter: "info,actix_http::h1::dispatcher=off".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}
