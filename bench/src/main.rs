//! `bench`: see the library's documentation, or `bench --help`.

// The report table and the usage go to stdout: printing is this command's job.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use bench::options::{Options, USAGE, UsageError};

#[tokio::main]
async fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1), |key| std::env::var(key).ok()) {
        Ok(options) => options,
        Err(UsageError::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("bench: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match (
        options.peak_shaving,
        options.rollups_drain,
        options.analytics_queries,
    ) {
        (Some(events), _, _) => bench::run_peak_shaving(options, events)
            .await
            .map(|peak| peak.render()),
        (None, Some(events), _) => bench::run_rollups_drain(options, events)
            .await
            .map(|drain| drain.render()),
        (None, None, Some(events)) => bench::run_analytics_queries(options, events)
            .await
            .map(|queries| queries.render()),
        (None, None, None) => bench::run(options).await.map(|mut report| report.render()),
    };
    match outcome {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            let mut message = format!("bench: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
