//! The benchmark's own view of the broker: declare the run's topology, purge the consumer
//! queues between scenarios, and read their depths for the delivery check.

use std::time::Duration;

use lapin::options::QueuePurgeOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use shared::topology::{Topology, queue_depth};
use tokio::time::Instant;

use crate::error::BenchError;

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

    /// Empties both consumer queues, so one scenario's backlog never slows the next.
    pub async fn purge(&self) -> Result<(), BenchError> {
        for queue in &self.queues {
            self.channel
                .queue_purge(queue.as_str().into(), QueuePurgeOptions::default())
                .await
                .map_err(broker("purging a queue"))?;
        }
        Ok(())
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
