//! The drain: how fast the processor empties a backlog into PostgreSQL, beside the fastest
//! way PostgreSQL takes the same rows (a bare `COPY`), and how fast the alerter empties its
//! own copy of the backlog.
//!
//! The backlog is N distinct events published with the bare publisher while the processor
//! and alerter are stopped, so both queues hold N. Then, one consumer at a time so they do
//! not share the cores: the processor from its start until all N are stored (confirmed by
//! `SELECT count(*)`); the ceiling, a `COPY` of exactly the rows it stored (read back with
//! `COPY events TO STDOUT`, with their issue and the payload as stored: the published body
//! with the parsed frames and contexts) into a scratch table shaped like `events` (same
//! columns, key and every index, the partial ones on `issue_id` included), [`COPIES`] times,
//! each after a checkpoint so neither side inherits the other's dirty pages; and the alerter
//! until its consumed counter is N. Each consumer starts once the broker is idle
//! ([`Broker::wait_idle`]), not while it still writes the backlog it was just given.
//!
//! Until 2026-12-07 the ceiling was a `COPY` of the *published* bodies without an issue:
//! smaller payloads, and rows the three partial indexes on `issue_id` skip. It is still
//! measured beside the fair one ([`Drain::published_copy`]), to show what the difference is.
//!
//! The backlog is N events of one error (distinct ids, same fingerprint), so every batch
//! counts into the same issue row. To
//! show whether that bounds the drain, the processor then drains N events again, spread over
//! `--drain-errors` distinct errors (so up to that many issues per batch), into emptied
//! tables.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use shared::event::{Event, ProjectId};
use sqlx::{Connection, PgConnection};
use tokio::time::Instant;

use crate::broker::Broker;
use crate::ceiling::{Ceiling, Message};
use crate::error::BenchError;
use crate::sample;
use crate::services::{Launcher, Service};
use crate::usage::{CpuUse, Memory, Watch, Who};

/// The `events` columns, in the order of `processor/migrations/0001_events.sql`.
const COLUMNS: &str = "project_id, event_id, routing_key, occurred_at, received_at, \
                       message, url, release, environment, payload";

#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub count: u64,
    pub elapsed: Duration,
}

impl Rate {
    pub fn per_sec(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

#[derive(Debug)]
pub struct Drain {
    pub events: u64,
    /// From the processor's start until every event is a row.
    pub processor: Rate,
    pub processor_cpu: CpuUse,
    pub processor_memory: Memory,
    /// The ceiling: the median of [`COPIES`] runs of the `COPY` of the stored rows, and all
    /// of them, slowest first: a single `COPY` of a few seconds varies by a third on this
    /// machine.
    pub copy: Rate,
    pub copies: Vec<Rate>,
    /// The former ceiling, for comparison: the median of [`COPIES`] `COPY`s of the published
    /// bodies as rows without an issue.
    pub published_copy: Rate,
    /// From the alerter's start until it consumed every event (it has no webhooks here).
    pub alerter: Rate,
    pub alerter_memory: Memory,
    /// The processor again on as many events over this many distinct errors.
    pub distinct: Option<Distinct>,
    /// Problems that did not stop the measurement (a service that did not exit cleanly).
    pub notes: Vec<String>,
}

#[derive(Debug)]
pub struct Distinct {
    pub errors: usize,
    pub processor: Rate,
    pub processor_cpu: CpuUse,
}

/// How often the bare `COPY` runs.
pub const COPIES: usize = 3;

fn database(context: &'static str) -> impl FnOnce(sqlx::Error) -> BenchError {
    move |source| BenchError::Database { context, source }
}

pub async fn run(
    count: usize,
    errors: usize,
    database_url: &str,
    broker: &Broker,
    ceiling: &Ceiling,
    launcher: &Launcher,
) -> Result<Drain, BenchError> {
    let project = ProjectId::new(1).ok_or_else(|| BenchError::Usage("project 0".into()))?;
    let events: Vec<Event> = (0..count).map(|_| sample::fresh_event(project)).collect();
    let messages: Arc<Vec<Message>> = Arc::new(events.iter().map(Message::of).collect());
    let expected = count as u64;

    eprintln!("bench: drain: queueing {count} events with the processor and alerter stopped");
    queue(broker, ceiling, messages.clone()).await?;

    let mut connection = PgConnection::connect(database_url)
        .await
        .map_err(database("connecting"))?;
    eprintln!("bench: drain: bare COPY of the published bodies, {COPIES} times");
    let csv = published_rows(&events, &messages);
    let published_copy = median(
        &mut connection,
        format!("bench_copy ({COLUMNS}) FROM STDIN WITH (FORMAT csv)"),
        &csv,
    )
    .await?
    .0;
    drop(csv);

    let mut notes = Vec::new();
    let (stored, processor_cpu, processor_memory) =
        drain_processor(&mut connection, expected, broker, launcher, &mut notes, &[]).await?;

    eprintln!("bench: drain: bare COPY of the {count} stored rows, {COPIES} times");
    let rows = stored_rows(&mut connection).await?;
    let (copy, copies) = median(&mut connection, "bench_copy FROM STDIN".to_owned(), &rows).await?;
    drop(rows);

    eprintln!("bench: drain: alerter");
    broker.wait_idle().await;
    let alerter = launcher.spawn(Service::Alerter)?;
    let consumed = wait_for_metric(
        &alerter,
        "frontmon_alerter_events_consumed_total",
        expected,
        drain_timeout(count),
    )
    .await?;
    let alerter_memory = alerter.memory()?;
    if let Err(error) = alerter.stop().await {
        notes.push(error.to_string());
    }

    let distinct = if errors > 1 {
        eprintln!(
            "bench: drain: queueing {count} events over {errors} distinct errors for the processor"
        );
        let messages: Arc<Vec<Message>> = Arc::new(
            (0..count)
                .map(|n| Message::of(&sample::distinct_error(project, n % errors)))
                .collect(),
        );
        queue(broker, ceiling, messages).await?;
        sqlx::query("TRUNCATE events, issue_users, issues, outbox")
            .execute(&mut connection)
            .await
            .map_err(database("emptying the tables"))?;
        sqlx::query("CHECKPOINT")
            .execute(&mut connection)
            .await
            .map_err(database("checkpoint"))?;
        let (processor, processor_cpu, _) =
            drain_processor(&mut connection, expected, broker, launcher, &mut notes, &[]).await?;
        Some(Distinct {
            errors,
            processor,
            processor_cpu,
        })
    } else {
        None
    };
    let _ = connection.close().await;

    Ok(Drain {
        events: expected,
        processor: stored,
        processor_cpu,
        processor_memory,
        copy,
        copies,
        published_copy,
        alerter: consumed,
        alerter_memory,
        distinct,
        notes,
    })
}

/// Publishes every message and waits until both queues hold them all.
pub(crate) async fn queue(
    broker: &Broker,
    ceiling: &Ceiling,
    messages: Arc<Vec<Message>>,
) -> Result<(), BenchError> {
    let expected = messages.len() as u64;
    broker.purge().await?;
    let published = ceiling
        .publish_all(messages)
        .await
        .map_err(|source| BenchError::Broker {
            context: "queueing the drain events",
            source,
        })?;
    if published.confirmed != expected {
        return Err(BenchError::Incomplete(format!(
            "the broker confirmed {} of {expected} drain events ({} nacked, {} returned)",
            published.confirmed, published.nacked, published.returned
        )));
    }
    broker.settled_depths(expected).await?;
    Ok(())
}

/// Starts the processor on the queued backlog, once the broker is done storing it, and stops
/// it once all `expected` are rows: the rate, the CPU of the processor, PostgreSQL and the
/// broker meanwhile, and the processor's memory.
pub(crate) async fn drain_processor(
    connection: &mut PgConnection,
    expected: u64,
    broker: &Broker,
    launcher: &Launcher,
    notes: &mut Vec<String>,
    env: &[(&str, &str)],
) -> Result<(Rate, CpuUse, Memory), BenchError> {
    drain_processor_until(connection, expected, broker, launcher, notes, env, None).await
}

/// [`drain_processor`], whose clock also waits, given `settled`, for that query to answer
/// true: work the processor finishes after the rows is timed with them.
pub(crate) async fn drain_processor_until(
    connection: &mut PgConnection,
    expected: u64,
    broker: &Broker,
    launcher: &Launcher,
    notes: &mut Vec<String>,
    env: &[(&str, &str)],
    settled: Option<&'static str>,
) -> Result<(Rate, CpuUse, Memory), BenchError> {
    broker.wait_idle().await;
    eprintln!("bench: drain: processor started");
    let processor = launcher.spawn_with(Service::Processor, env)?;
    let watch = Watch::new(vec![
        ("processor", Who::Pid(processor.pid())),
        ("postgres", Who::Command("postgres")),
        ("broker", Who::Command("beam.smp")),
    ]);
    let before = watch.sample();
    let mut stored = wait_for_rows(connection, expected, &processor).await?;
    if let Some(settled) = settled {
        stored.elapsed = wait_settled(connection, settled, &processor).await?;
    }
    let cpu = watch.between(&before, &watch.sample());
    let memory = processor.memory()?;
    if let Err(error) = processor.stop().await {
        notes.push(error.to_string());
    }
    Ok((stored, cpu, memory))
}

/// Polls `settled` (a query answering a boolean) until true: the time from the start.
async fn wait_settled(
    connection: &mut PgConnection,
    settled: &'static str,
    processor: &crate::services::Running,
) -> Result<Duration, BenchError> {
    loop {
        let done: bool = sqlx::query_scalar(settled)
            .fetch_one(&mut *connection)
            .await
            .map_err(database("waiting for the processor to settle"))?;
        if done {
            return Ok(processor.spawned_at.elapsed());
        }
        if processor.spawned_at.elapsed() > drain_timeout(0) {
            return Err(BenchError::Incomplete(format!("never settled: {settled}")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Generous: a processor at a tenth of the 10,000 events/s target still finishes.
fn drain_timeout(count: usize) -> Duration {
    Duration::from_secs(60).max(Duration::from_millis(count as u64))
}

/// Waits until every event is a row. The clock stops when the processor's stored counter
/// (incremented after each commit) reaches `expected`; `SELECT count(*)` then confirms it.
/// Polling `count(*)` itself would time the same thing but scan the whole fresh table (no
/// visibility map yet, so no index-only scan) many times a second, taking PostgreSQL's CPU
/// from the inserts it is measuring.
async fn wait_for_rows(
    connection: &mut PgConnection,
    expected: u64,
    processor: &crate::services::Running,
) -> Result<Rate, BenchError> {
    let timeout = drain_timeout(expected as usize);
    let counted = wait_for_metric(
        processor,
        "frontmon_processor_events_stored_total",
        expected,
        timeout,
    )
    .await?;
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&mut *connection)
            .await
            .map_err(database("counting stored events"))?;
        if rows as u64 >= expected {
            return Ok(Rate {
                count: rows as u64,
                elapsed: counted.elapsed,
            });
        }
        if processor.spawned_at.elapsed() > timeout {
            return Err(BenchError::Incomplete(format!(
                "the processor counted {} stored events but the table has {rows} of {expected}",
                counted.count
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls a counter on the service's `/metrics` (cheap) until it reaches `expected`; the rate
/// counts from the service's start.
async fn wait_for_metric(
    service: &crate::services::Running,
    name: &str,
    expected: u64,
    timeout: Duration,
) -> Result<Rate, BenchError> {
    loop {
        let value = service.metric(name).await.unwrap_or(0.0) as u64;
        let elapsed = service.spawned_at.elapsed();
        if value >= expected {
            return Ok(Rate {
                count: value,
                elapsed,
            });
        }
        if elapsed > timeout {
            return Err(BenchError::Incomplete(format!(
                "{name} reached {value} of {expected} in {elapsed:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`COPIES`] runs of `COPY {target}` of `data` into a fresh scratch table shaped like
/// `events`, each after a checkpoint: the median and all of them, slowest first.
async fn median(
    connection: &mut PgConnection,
    target: String,
    data: &[u8],
) -> Result<(Rate, Vec<Rate>), BenchError> {
    let mut copies = Vec::with_capacity(COPIES);
    checkpoint(connection).await?;
    for _ in 0..COPIES {
        copies.push(copy_in(connection, &target, data).await?);
        checkpoint(connection).await?;
    }
    copies.sort_by(|a, b| a.per_sec().total_cmp(&b.per_sec()));
    Ok((copies[copies.len() / 2], copies))
}

async fn checkpoint(connection: &mut PgConnection) -> Result<(), BenchError> {
    sqlx::query("CHECKPOINT")
        .execute(connection)
        .await
        .map_err(database("checkpoint"))?;
    Ok(())
}

/// `COPY {target}` of `data` into a new `bench_copy` shaped like `events` (its columns, key
/// and indexes, partial ones included), dropped after; only the transfer and commit are
/// timed.
async fn copy_in(
    connection: &mut PgConnection,
    target: &str,
    data: &[u8],
) -> Result<Rate, BenchError> {
    sqlx::query("CREATE TABLE bench_copy (LIKE events INCLUDING ALL)")
        .execute(&mut *connection)
        .await
        .map_err(database("creating the COPY scratch table"))?;
    let started = Instant::now();
    let mut copy = connection
        .copy_in_raw(&format!("COPY {target}"))
        .await
        .map_err(database("starting COPY"))?;
    // In chunks, as a client streaming rows would.
    for chunk in data.chunks(1 << 20) {
        copy.send(chunk)
            .await
            .map_err(database("sending COPY data"))?;
    }
    let rows = copy.finish().await.map_err(database("finishing COPY"))?;
    let elapsed = started.elapsed();

    sqlx::query("DROP TABLE bench_copy")
        .execute(&mut *connection)
        .await
        .map_err(database("dropping the COPY scratch table"))?;
    Ok(Rate {
        count: rows,
        elapsed,
    })
}

/// Every row of `events` as the processor stored it, every column, in `COPY`'s text format:
/// what the fair ceiling copies back in.
async fn stored_rows(connection: &mut PgConnection) -> Result<Vec<u8>, BenchError> {
    use futures::TryStreamExt;
    let mut rows = Vec::new();
    let mut out = connection
        .copy_out_raw("COPY events TO STDOUT")
        .await
        .map_err(database("starting COPY TO STDOUT"))?;
    while let Some(chunk) = out
        .try_next()
        .await
        .map_err(database("reading the stored rows"))?
    {
        rows.extend_from_slice(&chunk);
    }
    Ok(rows)
}

/// The published bodies as `events` rows without an issue, in CSV (the former ceiling).
fn published_rows(events: &[Event], messages: &[Message]) -> Vec<u8> {
    let mut csv = Vec::with_capacity(messages.iter().map(|m| m.body.len() + 400).sum());
    for (event, message) in events.iter().zip(messages) {
        csv.extend_from_slice(csv_row(event, &message.body).as_bytes());
    }
    csv
}

/// One CSV line in `COLUMNS` order: text quoted (quotes doubled), absent values unquoted
/// empty, which CSV `COPY` reads as NULL.
fn csv_row(event: &Event, payload: &[u8]) -> String {
    let text = |value: Option<&str>| match value {
        Some(value) => format!("\"{}\"", value.replace('"', "\"\"")),
        None => String::new(),
    };
    let time = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let fields = [
        event.project_id.to_string(),
        event.event_id.as_uuid().to_string(),
        event.routing_key().as_str().to_owned(),
        time(event.timestamp),
        time(event.received_at),
        text(event.message.as_deref()),
        text(event.url.as_deref()),
        text(event.release.as_deref()),
        text(event.environment.as_deref()),
        text(Some(&String::from_utf8_lossy(payload))),
    ];
    let mut line = fields.join(",");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_quote_text_and_leave_nulls_empty() {
        let project = ProjectId::new(3).expect("non-zero");
        let mut event = sample::fresh_event(project);
        event.message = Some("say \"hi\", then\nfail".into());
        event.release = None;
        let row = csv_row(&event, br#"{"a":"b"}"#);
        assert!(row.starts_with(&format!("3,{},error.js,", event.event_id.as_uuid())));
        assert!(row.contains(",\"say \"\"hi\"\", then\nfail\","));
        // release is NULL: nothing between its commas.
        assert!(row.contains(",,\"production\","));
        assert!(row.ends_with(",\"{\"\"a\"\":\"\"b\"\"}\"\n"));
    }
}
