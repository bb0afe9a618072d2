//! What can stop a benchmark run.

use crate::client::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Usage(String),
    #[error("the bench configuration is invalid")]
    Config(#[source] shared::config::ConfigError),
    #[error("RabbitMQ: {context}")]
    Broker {
        context: &'static str,
        #[source]
        source: lapin::Error,
    },
    #[error("PostgreSQL: {context}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("the {service} {problem}")]
    Service {
        service: &'static str,
        problem: String,
    },
    #[error("the load generator failed")]
    Load(#[from] ClientError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Incomplete(String),
    #[error("interrupted")]
    Interrupted,
}
