//! The HTTP load generator: many keep-alive connections posting events to the collector.
//!
//! Two paces:
//! - **closed loop** ([`Pace::Flat`]): each connection sends its next request as soon as
//!   the previous one is answered; this finds the peak rate.
//! - **open loop** ([`Pace::Rate`]): requests are due at fixed times, whatever the answers
//!   do, spread round-robin over the connections. A request's latency counts from when it
//!   was *due*, so a stall delays every request behind it and shows in the percentiles
//!   instead of quietly lowering the load (coordinated omission).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::{ClientError, Connection};
use crate::sample::RequestBody;
use crate::stats::Latencies;

#[derive(Debug, Clone, Copy)]
pub enum Pace {
    Flat,
    /// Requests per second, in all.
    Rate(f64),
}

/// Where and what to post.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// Path and query: `/api/1/events?key=…`.
    pub path: String,
}

/// What one run of the load generator saw.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Requests answered 2xx, and the events they carried: what the collector promised is in
    /// the broker.
    pub accepted_requests: u64,
    pub accepted_events: u64,
    /// Requests answered with anything else (a 503 when the broker pushed back).
    pub rejected: u64,
    /// Requests that got no answer (the connection failed); it is reopened.
    pub failed: u64,
    /// From the start until the last answer.
    pub elapsed: Duration,
    /// Of the accepted requests.
    pub latencies: Latencies,
}

impl LoadResult {
    pub fn events_per_sec(&self) -> f64 {
        self.accepted_events as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub fn requests_per_sec(&self) -> f64 {
        self.accepted_requests as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn add(&mut self, other: LoadResult) {
        self.accepted_requests += other.accepted_requests;
        self.accepted_events += other.accepted_events;
        self.rejected += other.rejected;
        self.failed += other.failed;
        self.latencies.merge(other.latencies);
    }
}

/// Posts bodies from `pool` (cycled) over `connections` connections for `duration`, then
/// waits for the requests in flight to be answered.
pub async fn run(
    target: &Target,
    pool: Arc<Vec<RequestBody>>,
    connections: usize,
    pace: Pace,
    duration: Duration,
) -> Result<LoadResult, ClientError> {
    // Connect first, so connection setup is not part of the timed run.
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        opened.push(Connection::open(target.addr).await?);
    }
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = Vec::with_capacity(connections);
    for (index, connection) in opened.into_iter().enumerate() {
        let worker = Worker {
            index,
            connections,
            target: target.clone(),
            pool: pool.clone(),
            pace,
            start,
            deadline,
        };
        workers.push(tokio::spawn(worker.run(connection)));
    }
    let mut total = LoadResult::default();
    let mut first_error = None;
    for worker in workers {
        match worker.await {
            Ok(Ok(result)) => total.add(result),
            Ok(Err(error)) => {
                first_error.get_or_insert(error);
            }
            // A worker panicked: its counts are lost, the others still say something.
            Err(join) => eprintln!("bench: a load worker failed: {join}"),
        }
    }
    total.elapsed = start.elapsed();
    match first_error {
        Some(error) => Err(error),
        None => Ok(total),
    }
}

struct Worker {
    index: usize,
    connections: usize,
    target: Target,
    pool: Arc<Vec<RequestBody>>,
    pace: Pace,
    start: Instant,
    deadline: Instant,
}

impl Worker {
    async fn run(self, mut connection: Connection) -> Result<LoadResult, ClientError> {
        let mut result = LoadResult::default();
        // This worker sends requests index, index + connections, index + 2·connections, …
        let mut slot = self.index;
        loop {
            let due = match self.pace {
                Pace::Flat => Instant::now(),
                Pace::Rate(per_sec) => self.start + Duration::from_secs_f64(slot as f64 / per_sec),
            };
            if due >= self.deadline {
                break;
            }
            // Only when ahead of schedule: a timer wakes on the next millisecond tick at the
            // earliest, which would pace the closed loop too. (That tick is also why an
            // open-loop latency may carry up to 1 ms of timer slack.)
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            let body = &self.pool[slot % self.pool.len()];
            slot += self.connections;
            match connection.post(&self.target.path, body).await {
                Ok(status) if status.is_success() => {
                    result.accepted_requests += 1;
                    result.accepted_events += body.events;
                    result.latencies.record(due.elapsed());
                }
                Ok(_) => result.rejected += 1,
                Err(_) => {
                    result.failed += 1;
                    connection = Connection::open(self.target.addr).await?;
                }
            }
        }
        Ok(result)
    }
}
