//! Operator commands for a running frontmon: how many messages wait in each queue, and
//! replaying the ones an operator has fixed the cause of.
//!
//! A poison message is parked in its queue's dead-letter queue (`<queue>.dead`) and an event
//! no binding matched in `<exchange>.unroutable`. Once the cause is fixed (a bug deployed, a
//! binding added), [`replay`] moves them back: a dead letter to the queue it died in (only
//! that consumer sees it again), an unroutable event to the exchange with its routing key.
//! Each message is acked from its parking queue only after the broker confirmed the
//! republished copy, so a replay interrupted at any point loses nothing.
//!
//! [`sourcemaps`] uploads a build's source maps to the processor's API, lists and deletes
//! them. [`projects`] creates projects and adds and revokes their keys, in the database the
//! collectors read. [`users`] creates the dashboard's accounts; [`erasure`] erases a user's events
//! through the same API. [`cli`] is the command line of `frontmon-admin`.

pub mod cli;
pub mod erasure;
pub mod projects;
pub mod sourcemaps;
pub mod users;

use lapin::options::{BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::{Channel, Confirmation, Connection};
use shared::config::Settings;
use shared::topology::{Topology, dead_letter_queue, queue_depth};

/// Where parked messages are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// `<processor.queue>.dead`, back to the processor's queue (with partitions, each
    /// `<processor.queue>.<n>.dead` back to its partition).
    Processor,
    /// `<alerter.queue>.dead`, back to the alerter's queue.
    Alerter,
    /// `<exchange>.unroutable`, back to the exchange.
    Unroutable,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("broker error")]
    Broker(#[from] lapin::Error),
    #[error("the broker did not take message {0} back (nack or unroutable); it stays parked")]
    NotRepublished(u64),
}

async fn connect(settings: &Settings) -> Result<(Connection, Channel), AdminError> {
    let connection = shared::amqp::connect(
        settings.amqp.url.expose(),
        &format!("{}.admin", settings.amqp.exchange),
    )
    .await?;
    let channel = connection.create_channel().await?;
    Topology::from_settings(settings).declare(&channel).await?;
    Ok((connection, channel))
}

async fn depth(channel: &Channel, queue: &str) -> Result<u32, AdminError> {
    Ok(queue_depth(channel, queue).await?)
}

/// Every queue of the topology with the number of messages ready in it.
pub async fn queue_depths(settings: &Settings) -> Result<Vec<(String, u32)>, AdminError> {
    let (connection, channel) = connect(settings).await?;
    let mut depths = Vec::new();
    for queue in Topology::from_settings(settings).all_queues() {
        let count = depth(&channel, &queue).await?;
        depths.push((queue, count));
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(depths)
}

/// Moves at most `limit` messages (default: as many as are parked when it starts, so messages
/// that fail again are not replayed in a loop) back from `source`; returns how many moved.
pub async fn replay(
    settings: &Settings,
    source: Source,
    limit: Option<u32>,
) -> Result<u32, AdminError> {
    let topology = Topology::from_settings(settings);
    // Each parked queue and where its messages go back to: a partitioned processor's dead
    // letters return to the partition they died in.
    let routes: Vec<(String, Option<String>)> = match source {
        Source::Processor => topology
            .processor_queues()
            .into_iter()
            .map(|queue| (dead_letter_queue(&queue), Some(queue)))
            .collect(),
        Source::Alerter => vec![(
            topology.alerter.dead_letter_queue(),
            Some(topology.alerter.name.clone()),
        )],
        Source::Unroutable => vec![(topology.unroutable(), None)],
    };
    let (connection, channel) = connect(settings).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut moved = 0;
    for (parked, target_queue) in routes {
        let budget = match limit {
            Some(limit) => limit.saturating_sub(moved),
            None => depth(&channel, &parked).await?,
        };
        moved += replay_queue(
            &channel,
            &topology,
            &parked,
            target_queue.as_deref(),
            budget,
        )
        .await?;
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(moved)
}

/// Moves at most `limit` messages from `parked` to `target_queue` (through the default
/// exchange), or, without one, back through the events exchange.
async fn replay_queue(
    channel: &Channel,
    topology: &Topology,
    parked: &str,
    target_queue: Option<&str>,
    limit: u32,
) -> Result<u32, AdminError> {
    let mut moved = 0;
    while moved < limit {
        let Some(message) = channel
            .basic_get(parked.into(), BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        let delivery = message.delivery;
        // A dead letter goes straight to the queue it died in, through the default exchange,
        // so the other consumer does not get a second copy; an unroutable event goes back
        // through the events exchange under its own routing key.
        let (exchange, routing_key) = match target_queue {
            Some(queue) => (String::new(), queue.to_owned()),
            None => (topology.exchange.clone(), delivery.routing_key.to_string()),
        };
        let confirmation = channel
            .basic_publish(
                exchange.as_str().into(),
                routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &delivery.data,
                delivery.properties.clone(),
            )
            .await?
            .await?;
        match confirmation {
            Confirmation::Ack(None) => {
                delivery.acker.ack(Default::default()).await?;
                moved += 1;
            }
            _ => {
                // Leave it parked: nack with requeue puts it back where it was.
                delivery
                    .acker
                    .nack(lapin::options::BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await?;
                return Err(AdminError::NotRepublished(delivery.delivery_tag));
            }
        }
    }
    Ok(moved)
}
