//! The analytics' cost on the drain (`bench --rollups-drain N`): the processor drains the
//! same backlog of N analytics events (page views and web vitals of visitors in sessions,
//! half of them on one hot page) with `analytics.rollups` off and on, alternately, twice
//! each, into emptied tables, in one run; a drain ends when the events are stored and every
//! batch's rollup additions folded. The figure is the ratio of the mean rates, on ÷ off;
//! the target is at least 0.8.

use std::sync::Arc;

use shared::event::ProjectId;
use sqlx::{Connection as _, PgConnection};

use crate::broker::Broker;
use crate::ceiling::{Ceiling, Message};
use crate::drain::{Rate, drain_processor_until, queue};
use crate::error::BenchError;
use crate::options::Options;
use crate::sample;
use crate::sandbox::Sandbox;
use crate::services::{Launcher, Service};

/// The clock stops once every batch's additions are folded into the rollup tables, not
/// when the events are stored: the folds are part of the cost.
const SETTLED: &str = "SELECT NOT EXISTS (SELECT FROM rollup_counts_pending)
                          AND NOT EXISTS (SELECT FROM rollup_histograms_pending)
                          AND NOT EXISTS (SELECT FROM rollup_distinct_pending)";

#[derive(Debug)]
pub struct RollupsDrain {
    pub events: usize,
    /// In the order run: (rollups on, the rate, the processor's and PostgreSQL's CPU
    /// seconds meanwhile).
    pub runs: Vec<(bool, Rate, Option<f64>, Option<f64>)>,
}

impl RollupsDrain {
    fn mean(&self, on: bool) -> f64 {
        let rates: Vec<f64> = self
            .runs
            .iter()
            .filter(|run| run.0 == on)
            .map(|run| run.1.per_sec())
            .collect();
        rates.iter().sum::<f64>() / rates.len().max(1) as f64
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "| drain of {} analytics events (page views and vitals) | rollups | events/s | s | processor CPU s | PostgreSQL CPU s |\n\
             |---|---|---:|---:|---:|---:|\n",
            self.events
        );
        let cpu = |s: &Option<f64>| s.map_or("–".to_owned(), |s| format!("{s:.1}"));
        for (i, (on, rate, processor, postgres)) in self.runs.iter().enumerate() {
            out.push_str(&format!(
                "| run {} | {} | {:.0} | {:.2} | {} | {} |\n",
                i + 1,
                if *on { "on" } else { "off" },
                rate.per_sec(),
                rate.elapsed.as_secs_f64(),
                cpu(processor),
                cpu(postgres),
            ));
        }
        let (on, off) = (self.mean(true), self.mean(false));
        out.push_str(&format!(
            "| mean, on ÷ off | | {on:.0} ÷ {off:.0} = **{:.2} ×** | | | |\n",
            on / off.max(f64::EPSILON)
        ));
        out
    }
}

pub async fn run(
    options: &Options,
    sandbox: &Sandbox,
    events: usize,
) -> Result<RollupsDrain, BenchError> {
    let launcher = Launcher::new(sandbox, &Service::ALL)?;
    let topology = sandbox.topology();
    let broker = Broker::connect(sandbox.amqp_url(), &topology).await?;
    sandbox.create_database().await?;
    // Started once and stopped: the schema is in place, so the drains time consumption only.
    launcher.start(Service::Processor).await?.stop().await?;
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
    let project = ProjectId::new(1).ok_or_else(|| BenchError::Usage("project 0".into()))?;
    let messages: Arc<Vec<Message>> = Arc::new(
        (0..events)
            .map(|n| Message::of(&sample::analytics_event(project, n)))
            .collect(),
    );
    let mut connection = PgConnection::connect(sandbox.database_url())
        .await
        .map_err(|source| BenchError::Database {
            context: "connecting",
            source,
        })?;
    let mut runs = Vec::new();
    let mut notes = Vec::new();
    for on in [false, true, false, true] {
        sqlx::query(
            "TRUNCATE events, issue_users, issues, outbox, rollup_counts, rollup_histograms,
                      rollup_distinct, rollup_sessions, rollup_counts_pending,
                      rollup_histograms_pending, rollup_distinct_pending",
        )
        .execute(&mut connection)
        .await
        .map_err(|source| BenchError::Database {
            context: "emptying the tables",
            source,
        })?;
        sqlx::query("CHECKPOINT")
            .execute(&mut connection)
            .await
            .map_err(|source| BenchError::Database {
                context: "checkpoint",
                source,
            })?;
        eprintln!(
            "bench: rollups drain: {events} events, rollups {}",
            if on { "on" } else { "off" }
        );
        queue(&broker, &ceiling, messages.clone()).await?;
        let flag = if on { "true" } else { "false" };
        let (rate, cpu, _) = drain_processor_until(
            &mut connection,
            events as u64,
            &broker,
            &launcher,
            &mut notes,
            &[("FRONTMON__ANALYTICS__ROLLUPS", flag)],
            Some(SETTLED),
        )
        .await?;
        runs.push((
            on,
            rate,
            cpu.seconds_of("processor"),
            cpu.seconds_of("postgres"),
        ));
    }
    for note in notes {
        eprintln!("bench: rollups drain: {note}");
    }
    let _ = connection.close().await;
    Ok(RollupsDrain { events, runs })
}
