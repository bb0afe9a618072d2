//! The benchmark's flags, with environment fallbacks for where the broker and database are.

use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
Usage: bench [OPTIONS]

Runs the release collector, processor and alerter against the local RabbitMQ and PostgreSQL,
under names of its own (deleted at the end), and prints one table.

Options:
  --rounds N                 interleaved ceiling/collector rounds (default 3)
  --duration SECS            length of each timed scenario (default 10)
  --connections N            HTTP keep-alive connections of the load generator (default 256:
                             browsers give a collector many requests in flight)
  --drain-events N           events queued for the processor drain (default 100000)
  --drain-errors N           distinct errors of the second processor drain, which queues as
                             many events again over N errors instead of copies of one
                             (default 1000; 1 skips it)
  --window N                 unconfirmed messages of the bare publisher, in all (default 1024)
  --channels N               channels the bare publisher spreads them over (default 4)
  --processor-batch-size N   processor.batch_size during the bench (default 1000)
  --processor-prefetch N     processor.prefetch (per consume session) during the bench
                             (default 4000)
  --baseline-collector PATH  a second collector binary (another build, for an A/B) measured
                             in every round beside this build's, under the same conditions:
                             single events and batches of 20, interleaved with this build's
                             (which goes first alternates by round); the table adds its
                             rates, ratios, memory and CPU per accepted event
  --scenarios WHICH          all (default), or collector: only the rounds of the collector
                             scenarios, without the processor, the alerter and the drain
                             (a quicker A/B with --baseline-collector)
  --peak-shaving N           instead of the benchmark: N single-event POSTs with the processor
                             stopped, then its drain (20000 is the reference)
  --rollups-drain N          instead of the benchmark: the processor drains N analytics
                             events with analytics.rollups off and on, twice each
  --analytics-queries N      instead of the benchmark: N made-up events over 30 days (200
                             pages, 3 releases, mixed devices; 10000000 is the reference)
                             written into the processor's tables, then each analytics
                             endpoint's p50/p95 over 30 days and 24 h, beside the exact
                             answers from the raw events
  --seed N                   the made-up data's seed (default 16)
  --requests N               timed requests per endpoint, window and filter (default 30)
  --analytics-db NAME        the database --analytics-queries seeds and keeps (not dropped);
                             if it already holds events, it is reused as it is
  --in-flight N              requests in flight for --peak-shaving (default 8)
  --amqp-url URL             RabbitMQ (env FRONTMON_BENCH_AMQP_URL;
                             default amqp://guest:guest@127.0.0.1:5672/%2f)
  --database-url URL         PostgreSQL server, without a database name
                             (env FRONTMON_BENCH_DATABASE_URL; default postgres://postgres@127.0.0.1:5432)
  -h, --help                 this text
";

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub rounds: usize,
    pub duration: Duration,
    pub connections: usize,
    pub drain_events: usize,
    /// Distinct errors in the second processor drain; 1: no second drain.
    pub drain_errors: usize,
    pub window: usize,
    pub channels: usize,
    pub processor_batch_size: usize,
    pub processor_prefetch: u16,
    /// Another collector binary measured beside this build's.
    pub baseline_collector: Option<PathBuf>,
    /// Only the collector's rounds (`--scenarios collector`): no processor, alerter or drain.
    pub collector_only: bool,
    /// Run only the peak-shaving scenario, with this many events.
    pub peak_shaving: Option<usize>,
    /// Run only the drain with rollups off and on, of this many events.
    pub rollups_drain: Option<usize>,
    /// Run only the analytics query benchmark, over this many events.
    pub analytics_queries: Option<usize>,
    pub seed: u64,
    pub requests: usize,
    /// A database to seed and keep, or to reuse.
    pub analytics_db: Option<String>,
    pub peak_in_flight: usize,
    pub amqp_url: String,
    pub database_url: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rounds: 3,
            duration: Duration::from_secs(10),
            connections: 256,
            drain_events: 100_000,
            drain_errors: 1000,
            window: 1024,
            channels: 4,
            processor_batch_size: 1000,
            processor_prefetch: 4000,
            baseline_collector: None,
            collector_only: false,
            peak_shaving: None,
            rollups_drain: None,
            analytics_queries: None,
            seed: 16,
            requests: 30,
            analytics_db: None,
            peak_in_flight: 8,
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            database_url: "postgres://postgres@127.0.0.1:5432".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("help requested")]
    Help,
    #[error("{flag} needs a value")]
    MissingValue { flag: String },
    #[error("{flag}: {value:?} is not {expected}")]
    Invalid {
        flag: String,
        value: String,
        expected: &'static str,
    },
    #[error("unknown option {0}")]
    Unknown(String),
}

impl Options {
    /// Reads the flags (without the program name); `env` supplies the URL fallbacks, so
    /// tests need not touch the process's environment.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, UsageError> {
        let mut options = Options::default();
        if let Some(url) = env("FRONTMON_BENCH_AMQP_URL") {
            options.amqp_url = url;
        }
        if let Some(url) = env("FRONTMON_BENCH_DATABASE_URL") {
            options.database_url = url;
        }
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            // Both `--flag value` and `--flag=value`.
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg.clone(), None),
            };
            if flag == "-h" || flag == "--help" {
                return Err(UsageError::Help);
            }
            let value = match inline.or_else(|| args.next()) {
                Some(value) => value,
                None => return Err(UsageError::MissingValue { flag }),
            };
            match flag.as_str() {
                "--rounds" => options.rounds = positive(&flag, &value)?,
                "--duration" => {
                    let secs: f64 = value.parse().ok().filter(|s: &f64| *s > 0.0).ok_or(
                        UsageError::Invalid {
                            flag: flag.clone(),
                            value: value.clone(),
                            expected: "a positive number of seconds",
                        },
                    )?;
                    options.duration = Duration::from_secs_f64(secs);
                }
                "--connections" => options.connections = positive(&flag, &value)?,
                "--drain-events" => options.drain_events = positive(&flag, &value)?,
                "--drain-errors" => options.drain_errors = positive(&flag, &value)?,
                "--window" => options.window = positive(&flag, &value)?,
                "--channels" => options.channels = positive(&flag, &value)?,
                "--processor-batch-size" => {
                    options.processor_batch_size = positive(&flag, &value)?;
                }
                "--processor-prefetch" => {
                    options.processor_prefetch = positive::<u16>(&flag, &value)?;
                }
                "--baseline-collector" => options.baseline_collector = Some(value.into()),
                "--scenarios" => {
                    options.collector_only = match value.as_str() {
                        "all" => false,
                        "collector" => true,
                        _ => {
                            return Err(UsageError::Invalid {
                                flag,
                                value,
                                expected: "all or collector",
                            });
                        }
                    }
                }
                "--peak-shaving" => options.peak_shaving = Some(positive(&flag, &value)?),
                "--rollups-drain" => options.rollups_drain = Some(positive(&flag, &value)?),
                "--analytics-queries" => {
                    options.analytics_queries = Some(positive(&flag, &value)?);
                }
                "--seed" => {
                    options.seed = value.parse().map_err(|_| UsageError::Invalid {
                        flag: flag.clone(),
                        value: value.clone(),
                        expected: "a whole number",
                    })?;
                }
                "--requests" => options.requests = positive(&flag, &value)?,
                "--analytics-db" => {
                    if value.is_empty()
                        || !value
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    {
                        return Err(UsageError::Invalid {
                            flag,
                            value,
                            expected: "a database name of a-z, 0-9 and _",
                        });
                    }
                    options.analytics_db = Some(value);
                }
                "--in-flight" => options.peak_in_flight = positive(&flag, &value)?,
                "--amqp-url" => options.amqp_url = value,
                "--database-url" => options.database_url = value,
                _ => return Err(UsageError::Unknown(flag)),
            }
        }
        Ok(options)
    }
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    flag: &str,
    value: &str,
) -> Result<T, UsageError> {
    value
        .parse::<T>()
        .ok()
        .filter(|n| *n > T::default())
        .ok_or_else(|| UsageError::Invalid {
            flag: flag.to_owned(),
            value: value.to_owned(),
            expected: "a positive whole number",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_override_defaults_and_env_supplies_urls() {
        let options = Options::parse(
            args(&[
                "--rounds",
                "5",
                "--duration=2.5",
                "--connections",
                "8",
                "--baseline-collector",
                "/tmp/old/collector",
            ]),
            |key| (key == "FRONTMON_BENCH_AMQP_URL").then(|| "amqp://elsewhere".to_owned()),
        )
        .expect("valid");
        assert_eq!(options.rounds, 5);
        assert_eq!(options.duration, Duration::from_millis(2500));
        assert_eq!(options.connections, 8);
        assert_eq!(
            options.baseline_collector,
            Some(PathBuf::from("/tmp/old/collector"))
        );
        assert_eq!(Options::default().baseline_collector, None);
        assert!(!options.collector_only);
        assert_eq!(options.amqp_url, "amqp://elsewhere");
        assert_eq!(options.database_url, Options::default().database_url);
    }

    #[test]
    fn the_analytics_queries_take_a_count_a_seed_and_a_database_name() {
        let options = Options::parse(
            args(&[
                "--analytics-queries",
                "100000",
                "--seed",
                "0",
                "--analytics-db",
                "frontmon_month",
            ]),
            |_| None,
        )
        .expect("valid");
        assert_eq!(options.analytics_queries, Some(100_000));
        assert_eq!(options.seed, 0);
        assert_eq!(options.analytics_db.as_deref(), Some("frontmon_month"));
        let err = Options::parse(args(&["--analytics-db", "x; DROP"]), |_| None)
            .expect_err("not a plain name");
        assert!(err.to_string().contains("--analytics-db"), "{err}");
    }

    #[test]
    fn bad_flags_are_named() {
        let err = Options::parse(args(&["--rounds", "0"]), |_| None).expect_err("zero");
        assert!(err.to_string().contains("--rounds"), "{err}");
        let err = Options::parse(args(&["--processor-prefetch", "70000"]), |_| None)
            .expect_err("over u16");
        assert!(err.to_string().contains("--processor-prefetch"), "{err}");
        let err = Options::parse(args(&["--scenarios", "drain"]), |_| None).expect_err("which");
        assert!(err.to_string().contains("--scenarios"), "{err}");
        assert!(
            Options::parse(args(&["--scenarios", "collector"]), |_| None)
                .expect("valid")
                .collector_only
        );
        let err = Options::parse(args(&["--nope", "1"]), |_| None).expect_err("unknown");
        assert!(err.to_string().contains("--nope"), "{err}");
        assert!(matches!(
            Options::parse(args(&["--duration"]), |_| None),
            Err(UsageError::MissingValue { .. })
        ));
    }
}
