//! Peak shaving, measured (`bench --peak-shaving`): the processor is down while a spike
//! arrives; the collector accepts all of it at its own pace, and the processor, once started,
//! drains the backlog at its own, with nothing lost or stored twice.
//!
//! N distinct single-event POSTs (default 20,000), a fixed number in flight (default 8), all
//! expected 2xx; then the processor is started and timed until every event is a row.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shared::event::ProjectId;
use sqlx::{Connection as _, PgConnection};

use crate::broker::Broker;
use crate::client::Connection;
use crate::error::BenchError;
use crate::http_load::Target;
use crate::options::Options;
use crate::sample::{self, RequestBody};
use crate::sandbox::Sandbox;
use crate::services::{Launcher, Service};

#[derive(Debug)]
pub struct PeakShaving {
    pub events: usize,
    pub in_flight: usize,
    pub accepted: usize,
    pub refused: usize,
    pub failed: usize,
    pub accept_time: Duration,
    pub queued: u64,
    pub drain_time: Duration,
    pub rows: i64,
    pub distinct: i64,
}

impl PeakShaving {
    pub fn render(&self) -> String {
        let rate = |n: usize, time: Duration| n as f64 / time.as_secs_f64().max(f64::EPSILON);
        format!(
            "| peak shaving: {} single-event POSTs, {} in flight, processor stopped | |\n\
             |---|---:|\n\
             | accepted (2xx) | {} of {} ({} refused, {} failed) |\n\
             | accept rate | {:.0} events/s ({:.1} s) |\n\
             | queued for the processor when it started | {} |\n\
             | drain rate, from the processor's start to the last row | {:.0} events/s ({:.1} s) |\n\
             | rows stored / distinct event ids | {} / {} |\n",
            self.events,
            self.in_flight,
            self.accepted,
            self.events,
            self.refused,
            self.failed,
            rate(self.accepted, self.accept_time),
            self.accept_time.as_secs_f64(),
            self.queued,
            rate(self.rows.max(0) as usize, self.drain_time),
            self.drain_time.as_secs_f64(),
            self.rows,
            self.distinct,
        )
    }
}

pub async fn run(
    options: &Options,
    sandbox: &Sandbox,
    events: usize,
) -> Result<PeakShaving, BenchError> {
    let in_flight = options.peak_in_flight;
    let launcher = Launcher::new(sandbox, &Service::ALL)?;
    let broker = Broker::connect(sandbox.amqp_url(), &sandbox.topology()).await?;
    sandbox.create_database().await?;
    // Started once and stopped: the schema is in place, so the drain times consumption only.
    launcher.start(Service::Processor).await?.stop().await?;
    let collector = launcher.start(Service::Collector).await?;

    let project = ProjectId::new(1).ok_or_else(|| BenchError::Usage("project 0".into()))?;
    // Every request its own event: the drain must find exactly `events` distinct rows.
    let bodies: Arc<Vec<RequestBody>> = Arc::new(sample::request_pool(project, events, 1));
    let target = Target {
        addr: collector.addr(),
        path: format!("/api/1/events?key={}", sandbox.public_key),
    };
    eprintln!("bench: peak shaving: {events} POSTs, {in_flight} in flight, processor stopped");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(in_flight);
    for _ in 0..in_flight {
        let (bodies, next, target) = (bodies.clone(), next.clone(), target.clone());
        workers.push(tokio::spawn(async move {
            let mut connection = Connection::open(target.addr).await?;
            let (mut accepted, mut refused, mut failed) = (0, 0, 0);
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(index) else { break };
                match connection.post(&target.path, body).await {
                    Ok(status) if status.is_success() => accepted += 1,
                    Ok(_) => refused += 1,
                    Err(_) => {
                        failed += 1;
                        connection = Connection::open(target.addr).await?;
                    }
                }
            }
            Ok::<_, crate::client::ClientError>((accepted, refused, failed))
        }));
    }
    let (mut accepted, mut refused, mut failed) = (0, 0, 0);
    for worker in workers {
        match worker.await {
            Ok(Ok((a, r, f))) => {
                accepted += a;
                refused += r;
                failed += f;
            }
            Ok(Err(error)) => return Err(BenchError::Incomplete(format!("load: {error}"))),
            Err(join) => {
                return Err(BenchError::Incomplete(format!(
                    "a load worker failed: {join}"
                )));
            }
        }
    }
    let accept_time = started.elapsed();
    let queued = broker.depths().await?[0];
    collector.stop().await?;

    eprintln!("bench: peak shaving: {accepted} accepted, {queued} queued; starting the processor");
    let mut db = PgConnection::connect(sandbox.database_url())
        .await
        .map_err(|e| BenchError::Incomplete(format!("database: {e}")))?;
    let processor = launcher.spawn(Service::Processor)?;
    let timeout = Duration::from_secs(600);
    loop {
        let stored = processor
            .metric("frontmon_processor_events_stored_total")
            .await
            .unwrap_or(0.0);
        if stored as usize >= accepted {
            break;
        }
        if processor.spawned_at.elapsed() > timeout {
            return Err(BenchError::Incomplete(format!(
                "the processor stored {stored} of {accepted} within {timeout:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_time = processor.spawned_at.elapsed();
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM events")
            .fetch_one(&mut db)
            .await
            .map_err(|e| BenchError::Incomplete(format!("database: {e}")))?;
    processor.stop().await?;
    let _ = db.close().await;
    broker.close().await;
    Ok(PeakShaving {
        events,
        in_flight,
        accepted,
        refused,
        failed,
        accept_time,
        queued,
        drain_time,
        rows,
        distinct,
    })
}
