//! One round: the ceiling, then the collector scenarios, back to back on the same broker, so
//! the ratio of each collector scenario to the ceiling comes from the same minute of this
//! shared machine.
//!
//! The half-rate run measures latency, and three things beside it say where it comes from:
//! the collector's own publish→confirm histogram over the run; a probe, the bare publisher
//! sending [`PROBE_RATE`] messages a second on its own connection during the run, which sees
//! any stall of the broker at the moment the collector does; and, right after, the bare
//! publisher alone at the same rate as the collector, open loop: the broker's own confirm
//! latency at that rate, without the collector and the load generator on the cores.
//!
//! Before each scenario both consumer queues are purged (a long queue slows the broker) and
//! the broker is left to finish its housekeeping ([`Broker::wait_idle`]); after each, their
//! depths are read before the next purge: every request the collector answered 2xx must be
//! there, in both queues (the events are errors, which both bind; during the half-rate run,
//! the probe's messages too).

use std::sync::Arc;
use std::time::Duration;

use crate::broker::Broker;
use crate::ceiling::{Ceiling, Message, Paced, Published};
use crate::client;
use crate::error::BenchError;
use crate::histogram::Histogram;
use crate::http_load::{self, LoadResult, Pace, Target};
use crate::sample::RequestBody;
use crate::usage::{CpuUse, Watch};

/// An HTTP scenario's outcome.
#[derive(Debug)]
pub struct HttpRun {
    pub load: LoadResult,
    pub cpu: CpuUse,
}

impl HttpRun {
    /// The collector's CPU time per event it accepted, in µs, from `/proc`: what each event
    /// costs it, whatever the broker let it reach.
    pub fn cpu_per_event_us(&self) -> Option<f64> {
        let seconds = self.cpu.seconds_of("collector")?;
        (self.load.accepted_events > 0).then(|| seconds * 1e6 / self.load.accepted_events as f64)
    }
}

/// The baseline collector's runs of one round (`--baseline-collector`).
#[derive(Debug)]
pub struct BaselineRuns {
    pub single: HttpRun,
    pub batch: HttpRun,
}

/// A collector measured beside the one under test: where it listens, and its process for the
/// CPU figures (grouped as "collector", like the one under test).
pub struct Contender {
    pub target: Target,
    pub watch: Watch,
}

#[derive(Debug)]
pub struct CeilingRun {
    pub published: Published,
    pub cpu: CpuUse,
}

/// The bare publisher at a fixed rate.
#[derive(Debug)]
pub struct PacedRun {
    pub paced: Paced,
    pub cpu: CpuUse,
}

/// The collector's histogram of each request's publish→confirm time.
pub const CONFIRM_HISTOGRAM: &str = "frontmon_collector_publish_confirm_seconds";

/// Messages a second of the broker probe during the half-rate run: 1.5 % of the collector's
/// load there, and a thousand samples in 10 s.
pub const PROBE_RATE: f64 = 100.0;

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
    /// The collector's own publish→confirm times during `half` (from its `/metrics`).
    pub half_confirms: Option<Histogram>,
    /// The bare publisher at [`PROBE_RATE`] during `half`, on its own connection.
    pub probe: Paced,
    /// The bare publisher, open loop at `half_rate`: the broker's confirm latency alone.
    pub ceiling_half: PacedRun,
    pub batch: HttpRun,
    pub gzip: HttpRun,
    /// The same single-event and batch scenarios against `--baseline-collector`.
    pub baseline: Option<BaselineRuns>,
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
    pub baseline: Option<Contender>,
}

impl Rig<'_> {
    pub async fn round(&self, number: usize) -> Result<Round, BenchError> {
        let mut checks = Vec::new();
        let ceiling = self.ceiling_run(&mut checks).await?;
        progress(number, "ceiling", ceiling.published.per_sec(), "msg/s");
        // Odd rounds measure this build first, even rounds the baseline: neither always gets
        // the broker right after the other's run.
        let baseline_first = number.is_multiple_of(2);
        let (single, baseline_single) = self
            .paired(
                "single events",
                &self.singles,
                baseline_first,
                number,
                &mut checks,
            )
            .await?;
        let half_rate = single.load.requests_per_sec() / 2.0;
        let confirms_before = self.confirm_histogram().await;
        let (mut half, mut probe) = self.half_run(half_rate, &mut checks).await?;
        let half_confirms = match (confirms_before, self.confirm_histogram().await) {
            (Some(before), Some(after)) => Some(after.since(&before)),
            _ => None,
        };
        progress_latency(
            number,
            "collector, half rate",
            half.load.events_per_sec(),
            half.load.latencies.percentile(99.0),
        );
        progress_latency(
            number,
            "broker probe meanwhile",
            probe.published.per_sec(),
            probe.latencies.percentile(99.0),
        );
        let mut ceiling_half = self.paced_run(half_rate, &mut checks).await?;
        progress_latency(
            number,
            "ceiling, half rate",
            ceiling_half.paced.published.per_sec(),
            ceiling_half.paced.latencies.percentile(99.0),
        );
        let (batch, baseline_batch) = self
            .paired(
                "batches of 20",
                &self.batches,
                baseline_first,
                number,
                &mut checks,
            )
            .await?;
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
            half_confirms,
            probe,
            ceiling_half,
            batch,
            gzip,
            baseline: baseline_single
                .zip(baseline_batch)
                .map(|(single, batch)| BaselineRuns { single, batch }),
            checks,
        })
    }

    /// A scenario against this build and, with `--baseline-collector`, against the baseline,
    /// in the order asked for.
    async fn paired(
        &self,
        scenario: &'static str,
        pool: &Arc<Vec<RequestBody>>,
        baseline_first: bool,
        number: usize,
        checks: &mut Vec<Check>,
    ) -> Result<(HttpRun, Option<HttpRun>), BenchError> {
        let ours = Contender {
            target: self.target.clone(),
            watch: self.watch.clone(),
        };
        let Some(baseline) = &self.baseline else {
            let run = self
                .measured(&ours, scenario, "collector", pool, number, checks)
                .await?;
            return Ok((run, None));
        };
        let (first, second) = if baseline_first {
            (baseline, &ours)
        } else {
            (&ours, baseline)
        };
        let names = if baseline_first {
            ["baseline collector", "collector"]
        } else {
            ["collector", "baseline collector"]
        };
        let a = self
            .measured(first, scenario, names[0], pool, number, checks)
            .await?;
        let b = self
            .measured(second, scenario, names[1], pool, number, checks)
            .await?;
        Ok(if baseline_first {
            (b, Some(a))
        } else {
            (a, Some(b))
        })
    }

    async fn measured(
        &self,
        who: &Contender,
        scenario: &'static str,
        name: &str,
        pool: &Arc<Vec<RequestBody>>,
        number: usize,
        checks: &mut Vec<Check>,
    ) -> Result<HttpRun, BenchError> {
        let run = self
            .http_run_on(who, scenario, pool, Pace::Flat, checks)
            .await?;
        let per_event = run.cpu_per_event_us().unwrap_or(f64::NAN);
        eprintln!(
            "bench: round {number}: {name}, {scenario}: {:.0} events/s, {per_event:.1} µs CPU per event",
            run.load.events_per_sec()
        );
        Ok(run)
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

    /// The collector at `per_sec` requests a second, open loop, with the broker probe.
    async fn half_run(
        &self,
        per_sec: f64,
        checks: &mut Vec<Check>,
    ) -> Result<(HttpRun, Paced), BenchError> {
        self.broker.purge().await?;
        let before = self.watch.sample();
        let (load, probe) = tokio::join!(
            http_load::run(
                &self.target,
                self.singles.clone(),
                self.connections,
                Pace::Rate(per_sec),
                self.duration,
            ),
            self.ceiling
                .run_at_rate(self.messages.clone(), PROBE_RATE, self.duration),
        );
        let cpu = self.watch.between(&before, &self.watch.sample());
        let load = load?;
        let probe = probe.map_err(|source| BenchError::Broker {
            context: "probing the broker",
            source,
        })?;
        // Both publish into the same queues.
        let accepted = load.accepted_events + probe.published.confirmed;
        checks.push(Check {
            scenario: "half rate, with the probe",
            accepted,
            queued: self.broker.settled_depths(accepted).await?,
            rejected: load.rejected + probe.published.nacked + probe.published.returned,
            failed: load.failed,
        });
        Ok((HttpRun { load, cpu }, probe))
    }

    async fn paced_run(
        &self,
        per_sec: f64,
        checks: &mut Vec<Check>,
    ) -> Result<PacedRun, BenchError> {
        self.broker.purge().await?;
        let before = self.watch.sample();
        let paced = self
            .ceiling
            .run_at_rate(self.messages.clone(), per_sec, self.duration)
            .await
            .map_err(|source| BenchError::Broker {
                context: "publishing the ceiling at half rate",
                source,
            })?;
        let cpu = self.watch.between(&before, &self.watch.sample());
        let published = &paced.published;
        checks.push(Check {
            scenario: "ceiling, half rate",
            accepted: published.confirmed,
            queued: self.broker.settled_depths(published.confirmed).await?,
            rejected: published.nacked + published.returned,
            failed: 0,
        });
        Ok(PacedRun { paced, cpu })
    }

    /// The collector's confirm histogram now; `None` if `/metrics` does not answer.
    async fn confirm_histogram(&self) -> Option<Histogram> {
        let (status, body) = client::get(self.target.addr, "/metrics").await.ok()?;
        if !status.is_success() {
            return None;
        }
        Histogram::parse(std::str::from_utf8(&body).ok()?, CONFIRM_HISTOGRAM)
    }

    async fn http_run(
        &self,
        scenario: &'static str,
        pool: &Arc<Vec<RequestBody>>,
        pace: Pace,
        checks: &mut Vec<Check>,
    ) -> Result<HttpRun, BenchError> {
        let ours = Contender {
            target: self.target.clone(),
            watch: self.watch.clone(),
        };
        self.http_run_on(&ours, scenario, pool, pace, checks).await
    }

    async fn http_run_on(
        &self,
        who: &Contender,
        scenario: &'static str,
        pool: &Arc<Vec<RequestBody>>,
        pace: Pace,
        checks: &mut Vec<Check>,
    ) -> Result<HttpRun, BenchError> {
        self.broker.purge().await?;
        let before = who.watch.sample();
        let load = http_load::run(
            &who.target,
            pool.clone(),
            self.connections,
            pace,
            self.duration,
        )
        .await?;
        let cpu = who.watch.between(&before, &who.watch.sample());
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

fn progress_latency(round: usize, scenario: &str, rate: f64, p99: Option<Duration>) {
    let p99 = p99.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    eprintln!("bench: round {round}: {scenario}: {rate:.0} msg/s, p99 {p99:.1} ms");
}
