//! Writes a [`synthetic`] data set straight into the processor's tables, as the processor
//! would have stored it, but in large chunks: the events by `COPY` into their day partitions
//! (created by the processor's own partition code), each error's issue found or opened and
//! counted by the processor's issue code, and a chunk's rollups summed by the processor's
//! [`Analytics`] and written by its rollup writer. Nothing here knows how rollups are stored,
//! so the data set stays true to whatever the processor's rollups become.
//!
//! Generating (and serializing, grouping, summing rollups) runs on a blocking thread one
//! chunk ahead of the writing, so the bench's core and PostgreSQL's work at the same time.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use processor::analytics::{Analytics, Rollup};
use processor::db::{partitions, rollups};
use processor::issues;
use shared::config::Settings;
use shared::event::Event;
use shared::grouping::Grouping;
use sqlx::{Connection as _, PgConnection};

use crate::error::BenchError;
use crate::synthetic::{Census, Plan, Traffic};

/// Events per chunk: one transaction, one rollup sum, one `COPY`.
pub const CHUNK: usize = 100_000;

/// The columns of the `COPY`, the issue first so that a row's prepared rest needs no edit.
const COLUMNS: &str = "issue_id, project_id, event_id, routing_key, occurred_at, received_at, \
                       message, url, release, environment, payload";

/// The rollup shard the generator's rows are written under (the processor's consume
/// sessions count from 0 too; one writer needs one shard).
const SHARD: i16 = 0;

#[derive(Debug, Clone)]
pub struct Seeded {
    pub census: Census,
    pub elapsed: Duration,
    /// The instant the data ends at (the plan's end).
    pub end: DateTime<Utc>,
    /// Issues in the database afterwards.
    pub issues: i64,
}

impl Seeded {
    pub fn per_sec(&self) -> f64 {
        self.census.events as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// A chunk ready to write: the `COPY` rows less their issue, the errors with their grouping
/// (for the issues), and what the chunk adds to the rollups.
struct Prepared {
    /// Each row's CSV from the second column on, with its newline.
    rows: Vec<String>,
    /// Index into `rows` of each error, with the event and its grouping.
    errors: Vec<(usize, Event, Grouping)>,
    days: BTreeSet<NaiveDate>,
    rollup: Rollup,
    census: Census,
}

fn database(context: &'static str) -> impl FnOnce(sqlx::Error) -> BenchError {
    move |source| BenchError::Database { context, source }
}

/// Generates `plan` into the (migrated) database at `database_url`.
pub async fn seed(
    database_url: &str,
    settings: &Settings,
    plan: Plan,
) -> Result<Seeded, BenchError> {
    let end = plan.end;
    let analytics = Analytics::new(&settings.analytics, settings.projects.iter());
    let mut connection = PgConnection::connect(database_url)
        .await
        .map_err(database("connecting"))?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Prepared>(1);
    let producer = tokio::task::spawn_blocking(move || {
        let mut traffic = Traffic::new(plan);
        while let Some(chunk) = traffic.next_chunk(CHUNK) {
            if sender.blocking_send(prepare(&analytics, chunk)).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut census = Census::default();
    let mut created: HashSet<NaiveDate> = HashSet::new();
    let mut last_report = Instant::now();
    while let Some(prepared) = receiver.recv().await {
        for day in &prepared.days {
            if created.insert(*day) {
                partitions::create_events_day(&mut connection, *day)
                    .await
                    .map_err(database("creating an events partition"))?;
            }
        }
        write(&mut connection, &prepared).await?;
        census.merge(prepared.census);
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "bench: seed: {} events, {:.0} events/s",
                census.events,
                census.events as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    producer
        .await
        .map_err(|error| BenchError::Incomplete(format!("the generator failed: {error}")))?;
    let elapsed = started.elapsed();
    let issues: i64 = sqlx::query_scalar("SELECT count(*) FROM issues")
        .fetch_one(&mut connection)
        .await
        .map_err(database("counting issues"))?;
    let _ = connection.close().await;
    Ok(Seeded {
        census,
        elapsed,
        end,
        issues,
    })
}

/// The CPU work of a chunk, done off the async threads.
fn prepare(analytics: &Analytics, chunk: Vec<Event>) -> Prepared {
    let mut census = Census::default();
    census.add(&chunk);
    // Errors' issues are found later, in the transaction: seeded errors count per page
    // without their issue (the errors endpoint's issues per page read them as unknown).
    let rollup = analytics.rollup(chunk.iter().map(|event| (event, None)));
    let mut rows = Vec::with_capacity(chunk.len());
    let mut errors = Vec::new();
    let mut days = BTreeSet::new();
    for (index, event) in chunk.into_iter().enumerate() {
        days.insert(event.received_at.date_naive());
        rows.push(csv_row(&event));
        if let Some(grouping) = shared::grouping::group_event(&event) {
            errors.push((index, event, grouping));
        }
    }
    Prepared {
        rows,
        errors,
        days,
        rollup,
        census,
    }
}

/// One chunk in one transaction, as the processor's batch writes one: issues found or
/// opened first, the events with them, the events counted into their issues, the rollups.
async fn write(connection: &mut PgConnection, prepared: &Prepared) -> Result<(), BenchError> {
    let mut tx = connection
        .begin()
        .await
        .map_err(database("beginning a chunk"))?;
    let grouped: Vec<(&Event, &Grouping)> = prepared
        .errors
        .iter()
        .map(|(_, event, grouping)| (event, grouping))
        .collect();
    let found = issues::issue_ids(&mut tx, &grouped)
        .await
        .map_err(database("finding the issues"))?;
    let mut issue_of = vec![None; prepared.rows.len()];
    let mut counted: Vec<(&Event, &Grouping, i64)> = Vec::with_capacity(prepared.errors.len());
    for (index, event, grouping) in &prepared.errors {
        let key = (
            i64::from(event.project_id.get()),
            grouping.fingerprint.clone(),
        );
        if let Some(id) = found.ids.get(&key) {
            issue_of[*index] = Some(*id);
            counted.push((event, grouping, *id));
        }
    }
    let mut copy = tx
        .copy_in_raw(&format!(
            "COPY events ({COLUMNS}) FROM STDIN WITH (FORMAT csv)"
        ))
        .await
        .map_err(database("starting COPY"))?;
    let mut buffer = String::with_capacity(1 << 20);
    for (row, issue) in prepared.rows.iter().zip(&issue_of) {
        if let Some(id) = issue {
            let _ = write!(buffer, "{id}");
        }
        buffer.push(',');
        buffer.push_str(row);
        if buffer.len() >= 1 << 20 {
            copy.send(buffer.as_bytes())
                .await
                .map_err(database("sending COPY data"))?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.as_bytes())
            .await
            .map_err(database("sending COPY data"))?;
    }
    copy.finish().await.map_err(database("finishing COPY"))?;
    issues::record(&mut tx, &counted, &found.created)
        .await
        .map_err(database("counting events into issues"))?;
    rollups::write(&mut tx, &prepared.rollup, SHARD)
        .await
        .map_err(database("writing rollups"))?;
    tx.commit().await.map_err(database("committing a chunk"))
}

/// An event's `COPY` row (CSV) from `project_id` on, ending with a newline: the columns the
/// processor's insert fills, the payload as the processor stores it (the enriched event).
fn csv_row(event: &Event) -> String {
    let payload = serde_json::to_string(event).unwrap_or_default();
    let mut row = String::with_capacity(payload.len() + 256);
    let time = |at: DateTime<Utc>| at.format("%Y-%m-%d %H:%M:%S%.3f+00").to_string();
    let _ = write!(
        row,
        "{},{},{},{},{}",
        event.project_id.get(),
        event.event_id.as_uuid(),
        event.routing_key().as_str(),
        time(event.timestamp),
        time(event.received_at),
    );
    for text in [
        event.message.as_deref(),
        event.url.as_deref(),
        event.release.as_deref(),
        event.environment.as_deref(),
        Some(payload.as_str()),
    ] {
        row.push(',');
        if let Some(text) = text {
            quoted(&mut row, text);
        }
    }
    row.push('\n');
    row
}

/// A CSV field, always quoted (so an empty string is not NULL), quotes doubled.
fn quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_null_is_empty() {
        let mut out = String::new();
        quoted(&mut out, "a \"b\", c\nd");
        assert_eq!(out, "\"a \"\"b\"\", c\nd\"");
        let mut event = Event::new(
            shared::event::EventId::from_uuid(uuid::Uuid::nil()),
            shared::event::ProjectId::new(3).expect("3"),
            DateTime::from_timestamp(1_700_000_000, 0).expect("time"),
            DateTime::from_timestamp(1_700_000_001, 0).expect("time"),
            shared::event::Detail::Message {},
        );
        event.url = Some(String::new());
        let row = csv_row(&event);
        assert!(
            row.starts_with(
                "3,00000000-0000-0000-0000-000000000000,log.message,\
                 2023-11-14 22:13:20.000+00,2023-11-14 22:13:21.000+00,,\"\",,,\"{"
            ),
            "{row}"
        );
        assert!(row.ends_with("}\"\n"));
    }
}
