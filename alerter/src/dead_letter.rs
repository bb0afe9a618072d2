//! Parks what triggered a notification that failed for good in the alerter's dead-letter
//! queue (`<alerter.queue>.dead`, through the dead-letter exchange, as the broker does with
//! poison), so a failed notification is never silently dropped: an operator sees it there
//! (`frontmon_alerter_dead_letters_waiting`, `frontmon-admin queues`) and in `/api/alerts`.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Connection};
use shared::topology::Topology;
use tokio::sync::Mutex;

use crate::metrics::Metrics;
use crate::store::Notification;

#[derive(Debug, thiserror::Error)]
enum ParkError {
    #[error("the broker is unavailable")]
    Broker(#[from] lapin::Error),
    #[error("the broker refused the message")]
    Nacked,
}

#[derive(Clone)]
pub struct DeadLetters {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    url: String,
    topology: Topology,
    connection_name: String,
    link: Mutex<Option<(Connection, Channel)>>,
    metrics: Metrics,
}

impl DeadLetters {
    pub fn new(url: String, topology: Topology, connection_name: String, metrics: Metrics) -> Self {
        Self {
            inner: std::sync::Arc::new(Inner {
                url,
                topology,
                connection_name,
                link: Mutex::new(None),
                metrics,
            }),
        }
    }

    /// Parks the notification's source (or the notification itself, for a digest); logs if
    /// the broker cannot take it: the failure stays recorded in the database either way.
    pub async fn park(&self, notification: &Notification) {
        let body = match &notification.source {
            Some(source) => serde_json::to_vec(source),
            None => serde_json::to_vec(notification),
        }
        .unwrap_or_default();
        if let Err(error) = self.publish(&body, &notification.delivery_id).await {
            tracing::error!(notification = notification.id, error = %error, "Cannot dead-letter a failed notification's source; it stays recorded as failed.");
            *self.inner.link.lock().await = None;
        } else {
            self.inner.metrics.dead_lettered.inc();
        }
    }

    async fn publish(&self, body: &[u8], id: &str) -> Result<(), ParkError> {
        let mut link = self.inner.link.lock().await;
        if link.is_none() {
            let connection =
                shared::amqp::connect(&self.inner.url, &self.inner.connection_name).await?;
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            self.inner.topology.declare(&channel).await?;
            *link = Some((connection, channel));
        }
        let Some((_, channel)) = link.as_ref() else {
            return Ok(());
        };
        let confirm = channel
            .basic_publish(
                self.inner.topology.dead_letter_exchange().as_str().into(),
                self.inner.topology.alerter.name.as_str().into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type(ShortString::from("application/json"))
                    .with_message_id(ShortString::from(id)),
            )
            .await?
            .await?;
        if confirm.is_nack() {
            return Err(ParkError::Nacked);
        }
        Ok(())
    }
}
