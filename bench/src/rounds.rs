//! One round: the ceiling, then the collector scenarios, back to back on the same broker, so
//! the ratio of each collector scenario to the ceiling comes from the same minute of this
//! shared machine.
//!
//! Before each scenario both consumer queues are purged (a long queue slows the broker);
//! after each, their depths are read before the next purge: every request the collector
//! answered 2xx must be there, in both queues (the events are errors, which both bind).

use std::sync::Arc;
use std::time::Duration;

use crate::broker::Broker;
use crate::ceiling::{Ceiling, Message, Published};
use crate::error::BenchError;
use crate::http_load::{self, LoadResult, Pace, Target};
use crate::sample::RequestBody;
use crate::usage::{CpuUse, Watch};

/// An HTTP scenario's outcome.
#[derive(Debug)]
pub struct HttpRun {
    pub load: LoadResult,
    pub cpu: CpuUse,
}

#[derive(Debug)]
pub struct CeilingRun {
    pub published: Published,
    pub cpu: CpuUse,
}

/// What the delivery check found after one scenario.
#[derive(Debug, Clone)]
pub struct Check {
    pub scenario: &'static str,
    /// Events the broker confirmed: answered 2xx by the collector, or acked to the bare
    /// publisher.
    pub accepted: u64,
    /// Depth of the processor's and the alerter's queue.
    pub queued: [u64; 2],
    /// Requests answered otherwise, and requests that got no answer.
    pub rejected: u64,
    pub failed: u64,
}

#[derive(Debug)]
pub struct Round {
    pub ceiling: CeilingRun,
    pub single: HttpRun,
    /// The open-loop run at half of `single`'s rate, and that rate (requests/s).
    pub half: HttpRun,
    pub half_rate: f64,
    pub batch: HttpRun,
    pub gzip: HttpRun,
    pub checks: Vec<Check>,
}

/// What every round uses.
pub struct Rig<'a> {
    pub broker: &'a Broker,
    pub ceiling: &'a Ceiling,
    pub target: Target,
    pub connections: usize,
    pub duration: Duration,
    /// Collector, bench, broker.
    pub watch: Watch,
    pub messages: Arc<Vec<Message>>,
    pub singles: Arc<Vec<RequestBody>>,
    pub batches: Arc<Vec<RequestBody>>,
    pub gzipped: Arc<Vec<RequestBody>>,
}

impl Rig<'_> {
    pub async fn round(&self, number: usize) -> Result<Round, BenchError> {
        let mut checks = Vec::new();
        let ceiling = self.ceiling_run(&mut checks).await?;
        progress(number, "ceiling", ceiling.published.per_sec(), "msg/s");
        let single = self
            .http_run("single events", &self.singles, Pace::Flat, &mut checks)
            .await?;
        progress(
            number,
            "collector, single events",
            single.load.events_per_sec(),
            "events/s",
        );
        let half_rate = single.load.requests_per_sec() / 2.0;
        let half = self
            .http_run(
                "half rate",
                &self.singles,
                Pace::Rate(half_rate),
                &mut checks,
            )
            .await?;
        progress(
            number,
            "collector, half rate",
            half.load.events_per_sec(),
            "events/s",
        );
        let batch = self
            .http_run("batches of 20", &self.batches, Pace::Flat, &mut checks)
            .await?;
        progress(
            number,
            "collector, batches of 20",
            batch.load.events_per_sec(),
            "events/s",
        );
        let gzip = self
            .http_run("gzip'd batches", &self.gzipped, Pace::Flat, &mut checks)
            .await?;
        progress(
            number,
            "collector, gzip'd batches",
            gzip.load.events_per_sec(),
            "events/s",
        );
        Ok(Round {
            ceiling,
            single,
            half,
            half_rate,
            batch,
            gzip,
            checks,
        })
    }

    async fn ceiling_run(&self, checks: &mut Vec<Check>) -> Result<CeilingRun, BenchError> {
        self.broker.purge().await?;
        let before = self.watch.sample();
        let published = self
            .ceiling
            .run_for(self.messages.clone(), self.duration)
            .await
            .map_err(|source| BenchError::Broker {
                context: "publishing the ceiling",
                source,
            })?;
        let cpu = self.watch.between(&before, &self.watch.sample());
        checks.push(Check {
            scenario: "ceiling",
            accepted: published.confirmed,
            queued: self.broker.settled_depths(published.confirmed).await?,
            rejected: published.nacked + published.returned,
            failed: 0,
        });
        Ok(CeilingRun { published, cpu })
    }

    async fn http_run(
        &self,
        scenario: &'static str,
        pool: &Arc<Vec<RequestBody>>,
        pace: Pace,
        checks: &mut Vec<Check>,
    ) -> Result<HttpRun, BenchError> {
        self.broker.purge().await?;
        let before = self.watch.sample();
        let load = http_load::run(
            &self.target,
            pool.clone(),
            self.connections,
            pace,
            self.duration,
        )
        .await?;
        let cpu = self.watch.between(&before, &self.watch.sample());
        checks.push(Check {
            scenario,
            accepted: load.accepted_events,
            queued: self.broker.settled_depths(load.accepted_events).await?,
            rejected: load.rejected,
            failed: load.failed,
        });
        Ok(HttpRun { load, cpu })
    }
}

fn progress(round: usize, scenario: &str, rate: f64, unit: &str) {
    eprintln!("bench: round {round}: {scenario}: {rate:.0} {unit}");
}
