//! The benchmark's own view of the broker: declare the run's topology, purge the consumer
//! queues between scenarios, wait for the broker to finish its housekeeping, and read the
//! queues' depths for the delivery check.

use std::time::Duration;

use lapin::options::QueuePurgeOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use shared::topology::{Topology, queue_depth};
use tokio::time::Instant;

use crate::error::BenchError;
use crate::usage::{Watch, Who};

/// The broker counts as idle under this much CPU (percent of a core); it idles at 1 to 5.
const IDLE_PERCENT: f64 = 10.0;
/// How long [`Broker::wait_idle`] waits at most.
const IDLE_LIMIT: Duration = Duration::from_secs(20);

pub struct Broker {
    connection: Connection,
    channel: Channel,
    /// The processor's and the alerter's queue.
    queues: [String; 2],
}

fn broker(context: &'static str) -> impl FnOnce(lapin::Error) -> BenchError {
    move |source| BenchError::Broker { context, source }
}

impl Broker {
    pub async fn connect(url: &str, topology: &Topology) -> Result<Self, BenchError> {
        let connection = Connection::connect(
            url,
            ConnectionProperties::default()
                .with_connection_name(format!("{}.bench", topology.exchange).into()),
        )
        .await
        .map_err(broker("connecting"))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(broker("opening a channel"))?;
        topology
            .declare(&channel)
            .await
            .map_err(broker("declaring the topology"))?;
        Ok(Self {
            connection,
            channel,
            queues: [
                topology.processor.name.clone(),
                topology.alerter.name.clone(),
            ],
        })
    }

    /// Empties both consumer queues, so one scenario's backlog never slows the next, and
    /// waits until the broker is idle again.
    pub async fn purge(&self) -> Result<(), BenchError> {
        for queue in &self.queues {
            self.channel
                .queue_purge(queue.as_str().into(), QueuePurgeOptions::default())
                .await
                .map_err(broker("purging a queue"))?;
        }
        self.wait_idle().await;
        Ok(())
    }

    /// Waits until the local broker (`beam.smp`) used under [`IDLE_PERCENT`] of a core over
    /// half a second, for at most [`IDLE_LIMIT`]. After a scenario (or a purge) a quorum queue
    /// goes on working for seconds: it writes its log from the write-ahead log into segment
    /// files and deletes what was purged, which stalls confirms for 100 ms and more on this
    /// disk. That belongs to the scenario before; the next one starts on an idle broker. (A
    /// broker elsewhere is not seen, and not waited for.)
    pub async fn wait_idle(&self) {
        let watch = Watch::new(vec![("broker", Who::Command("beam.smp"))]);
        let deadline = Instant::now() + IDLE_LIMIT;
        loop {
            let before = watch.sample();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let used = watch
                .between(&before, &watch.sample())
                .groups
                .first()
                .map_or(0.0, |(_, percent)| *percent);
            if used < IDLE_PERCENT {
                return;
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "bench: the broker is still busy ({used:.0} % of a core) after {IDLE_LIMIT:?}; going on"
                );
                return;
            }
        }
    }

    /// Messages ready in the processor's and the alerter's queue.
    pub async fn depths(&self) -> Result<[u64; 2], BenchError> {
        let mut depths = [0; 2];
        for (depth, queue) in depths.iter_mut().zip(&self.queues) {
            *depth = u64::from(
                queue_depth(&self.channel, queue)
                    .await
                    .map_err(broker("reading a queue depth"))?,
            );
        }
        Ok(depths)
    }

    /// The depths once both queues hold at least `expected`, or after 5 s: a confirmed
    /// message is in its queues, but a quorum queue's count may trail its confirm by a moment.
    pub async fn settled_depths(&self, expected: u64) -> Result<[u64; 2], BenchError> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = self.depths().await?;
        while last.iter().any(|depth| *depth < expected) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            last = self.depths().await?;
        }
        Ok(last)
    }

    pub async fn close(&self) {
        let _ = self.connection.close(200, "bench done".into()).await;
    }
}
