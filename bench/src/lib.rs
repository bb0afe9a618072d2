//! The frontmon benchmark: how close the real services come to what the same
//! RabbitMQ and PostgreSQL can do without them, on this machine.
//!
//! One run, in order ([`run`]):
//! 1. A [`sandbox::Sandbox`]: random names for the exchange, queues and database, and a
//!    configuration file for the services, all deleted at the end.
//! 2. The release `collector`, `processor` and `alerter` as child processes
//!    ([`services`]); their idle memory once ready. The processor and alerter are then
//!    stopped, so nothing consumes while the collector is measured.
//! 3. Rounds ([`rounds`]), each: the [`ceiling`] (a bare lapin publisher with confirms), then
//!    the collector under HTTP load ([`http_load`]): single events at full speed, single
//!    events at half that rate (open loop, for latency; with the collector's own confirm
//!    times from its `/metrics`, [`histogram`], and a probe of the broker's confirm latency
//!    meanwhile), the bare publisher alone at that same rate (the broker's confirm latency
//!    without the collector), batches of 20, gzip'd batches of 20. Each scenario starts on an
//!    idle broker and ends with a check that each accepted event is in both queues.
//! 4. The [`drain`]: a backlog for the processor, beside a bare `COPY` of the same rows;
//!    then the processor again on as many events over many distinct errors.
//! 5. The [`report`]: one table.
//!
//! `bench --peak-shaving N`, `bench --rollups-drain N` and `bench --analytics-queries N` run
//! one scenario instead ([`peak`]; [`rollups`], the drain with the analytics' rollups off and
//! on; [`queries`], the analytics endpoints over a month of [`synthetic`] traffic that
//! [`seed`] writes).
//!
//! `scripts/bench` builds everything with the release profile and runs `target/release/bench`.

mod broker;
mod ceiling;
mod client;
mod drain;
mod error;
mod histogram;
mod http_load;
mod machine;
pub mod options;
mod peak;
mod queries;
mod report;
mod rollups;
mod rounds;
mod sample;
mod sandbox;
mod seed;
mod services;
mod stats;
mod synthetic;
mod table;
mod usage;

use std::sync::Arc;
use std::time::Duration;

use shared::event::ProjectId;

use crate::broker::Broker;
use crate::ceiling::{Ceiling, Message};
use crate::error::BenchError;
use crate::http_load::Target;
use crate::machine::Machine;
use crate::options::Options;
use crate::report::Report;
use crate::rounds::{Contender, Rig};
use crate::sample::RequestBody;
use crate::sandbox::Sandbox;
use crate::services::{Launcher, Service};
use crate::usage::{Watch, Who};

/// Distinct bodies the load generator cycles through, per kind.
const POOL: usize = 1024;

/// Runs only the peak-shaving scenario ([`peak`]), cleaning up after it like [`run`].
pub async fn run_peak_shaving(
    options: Options,
    events: usize,
) -> Result<peak::PeakShaving, BenchError> {
    let sandbox = Sandbox::create(&options)?;
    let outcome = tokio::select! {
        outcome = peak::run(&options, &sandbox, events) => outcome,
        _ = tokio::signal::ctrl_c() => Err(BenchError::Interrupted),
    };
    sandbox.cleanup(outcome.is_err()).await;
    outcome
}

/// Runs only the drain with the analytics' rollups off and on ([`rollups`]), cleaning up
/// after it like [`run`].
pub async fn run_rollups_drain(
    options: Options,
    events: usize,
) -> Result<rollups::RollupsDrain, BenchError> {
    let sandbox = Sandbox::create(&options)?;
    let outcome = tokio::select! {
        outcome = rollups::run(&options, &sandbox, events) => outcome,
        _ = tokio::signal::ctrl_c() => Err(BenchError::Interrupted),
    };
    sandbox.cleanup(outcome.is_err()).await;
    outcome
}

/// Runs only the analytics query benchmark ([`queries`]), cleaning up after it like [`run`]
/// (but for a database named with `--analytics-db`).
pub async fn run_analytics_queries(
    options: Options,
    events: usize,
) -> Result<queries::QueryBench, BenchError> {
    let sandbox = Sandbox::create(&options)?;
    let outcome = tokio::select! {
        outcome = queries::run(&options, &sandbox, events) => outcome,
        _ = tokio::signal::ctrl_c() => Err(BenchError::Interrupted),
    };
    sandbox.cleanup(outcome.is_err()).await;
    outcome
}

/// Runs the whole benchmark and cleans up after it, also when it fails or is interrupted
/// (Ctrl-C): the services are killed, the queues, exchanges and database deleted.
pub async fn run(options: Options) -> Result<Report, BenchError> {
    let sandbox = Sandbox::create(&options)?;
    eprintln!(
        "bench: run {} (exchange {}, database frontmon_bench_{})",
        sandbox.id,
        sandbox.topology().exchange,
        sandbox.id
    );
    let outcome = tokio::select! {
        outcome = measure(&options, &sandbox) => outcome,
        _ = tokio::signal::ctrl_c() => Err(BenchError::Interrupted),
    };
    sandbox.cleanup(outcome.is_err()).await;
    outcome
}

async fn measure(options: &Options, sandbox: &Sandbox) -> Result<Report, BenchError> {
    let needed: &[Service] = if options.collector_only {
        &[Service::Collector]
    } else {
        &Service::ALL
    };
    let launcher = Launcher::new(sandbox, needed)?;
    let topology = sandbox.topology();
    let broker = Broker::connect(sandbox.amqp_url(), &topology).await?;
    sandbox.create_database().await?;
    let machine = Machine::describe(sandbox.database_url()).await;
    let mut notes = Vec::new();

    eprintln!("bench: preparing bodies");
    let project = ProjectId::new(1).ok_or_else(|| BenchError::Usage("project 0".into()))?;
    let messages: Arc<Vec<Message>> = Arc::new(
        (0..POOL)
            .map(|_| Message::of(&sample::fresh_event(project)))
            .collect(),
    );
    let singles = Arc::new(sample::request_pool(project, POOL, 1));
    let batches = sample::request_pool(project, POOL, 20);
    let gzipped = Arc::new(batches.iter().cloned().map(RequestBody::gzipped).collect());
    let batches = Arc::new(batches);

    // Idle memory: all three up and ready, nothing to do. Starting the processor here also
    // migrates the database, so the drain later times consumption, not the schema.
    let collector = launcher.start(Service::Collector).await?;
    let consumers = if options.collector_only {
        None
    } else {
        Some((
            launcher.start(Service::Processor).await?,
            launcher.start(Service::Alerter).await?,
        ))
    };
    // Let start-up allocations settle (connection handshakes, worker threads).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = collector.memory()?;
    let consumers_idle = match &consumers {
        Some((processor, alerter)) => Some((processor.memory()?, alerter.memory()?)),
        None => None,
    };
    // Another build of the collector, for an A/B in the same run: same configuration, own port.
    let baseline = match &options.baseline_collector {
        Some(binary) => {
            let running = launcher
                .start_binary(Service::Collector, binary, "baseline")
                .await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let idle = running.memory()?;
            Some((running, idle))
        }
        None => None,
    };
    for service in consumers
        .into_iter()
        .flat_map(|(processor, alerter)| [processor, alerter])
    {
        if let Err(error) = service.stop().await {
            notes.push(error.to_string());
        }
    }

    let ceiling = Ceiling::open(
        sandbox.amqp_url(),
        &topology.exchange,
        options.channels,
        options.window,
    )
    .await
    .map_err(|source| BenchError::Broker {
        context: "opening the bare publisher",
        source,
    })?;
    let rig = Rig {
        broker: &broker,
        ceiling: &ceiling,
        target: Target {
            addr: collector.addr(),
            path: format!("/api/1/events?key={}", sandbox.public_key),
        },
        connections: options.connections,
        duration: options.duration,
        watch: Watch::new(vec![
            ("collector", Who::Pid(collector.pid())),
            ("bench", Who::Pid(std::process::id())),
            ("broker", Who::Command("beam.smp")),
        ]),
        messages,
        singles,
        batches,
        gzipped,
        baseline: baseline.as_ref().map(|(running, _)| Contender {
            target: Target {
                addr: running.addr(),
                path: format!("/api/1/events?key={}", sandbox.public_key),
            },
            watch: Watch::new(vec![
                ("collector", Who::Pid(running.pid())),
                ("bench", Who::Pid(std::process::id())),
                ("broker", Who::Command("beam.smp")),
            ]),
        }),
    };
    let mut rounds = Vec::with_capacity(options.rounds);
    for number in 1..=options.rounds {
        rounds.push(rig.round(number).await?);
    }
    let collector_peak = collector.memory()?;
    if let Err(error) = collector.stop().await {
        notes.push(error.to_string());
    }
    let baseline_memory = match baseline {
        Some((running, idle)) => {
            let peak = running.memory()?;
            if let Err(error) = running.stop().await {
                notes.push(format!("baseline: {error}"));
            }
            Some((idle, peak))
        }
        None => None,
    };

    let mut memory = vec![(Service::Collector, idle, collector_peak)];
    let drain = match consumers_idle {
        Some((processor_idle, alerter_idle)) => {
            let drain = drain::run(
                options.drain_events,
                options.drain_errors,
                sandbox.database_url(),
                &broker,
                &ceiling,
                &launcher,
            )
            .await?;
            notes.extend(drain.notes.iter().cloned());
            memory.push((Service::Processor, processor_idle, drain.processor_memory));
            memory.push((Service::Alerter, alerter_idle, drain.alerter_memory));
            Some(drain)
        }
        None => None,
    };
    ceiling.close().await;
    broker.close().await;

    Ok(Report {
        options: options.clone(),
        machine,
        rounds,
        memory,
        baseline_memory,
        drain,
        notes,
    })
}
