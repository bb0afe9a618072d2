//! One delivery, answered once and only once.
//!
//! A [`Delivery`] owes the broker exactly one answer. Its settle methods take `self`, so it
//! cannot be answered twice; dropping it unanswered is logged, so it cannot be forgotten
//! quietly. [`Deliveries`] is a batch of them, answered together by one multiple-ack.
//!
//! Start at [`Delivery`].

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::{BasicAckOptions, BasicNackOptions};

use super::Disposition;

/// How long a settlement may wait on the broker connection before the session is declared
/// broken (and rebuilt); the broker redelivers what was not settled.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("the broker connection failed while settling a delivery")]
    Broker(#[from] lapin::Error),
    /// lapin answers `false` when the channel it would send on is gone: nothing reached the
    /// broker, which will redeliver the message.
    #[error("the settlement was not sent (channel closed)")]
    NotSent,
    #[error("the settlement was not sent within {0:?}")]
    Timeout(Duration),
}

/// The tags of one channel's deliveries not answered yet: what a multiple-ack up to a tag
/// would answer, so [`Deliveries::ack`] can tell whether it answers exactly its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unsettled(Arc<Mutex<BTreeSet<u64>>>);

impl Unsettled {
    fn tags(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        // The set stays consistent whatever panicked while holding it: each change is one
        // insert or remove.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A message the broker delivered to us, owed exactly one answer.
///
/// Every way a delivery ends:
/// - [`ack`](Self::ack): done, or a duplicate of something done; the broker removes it.
/// - [`retry`](Self::retry): failed for a reason that may pass; the broker delivers it again,
///   and that counts toward the queue's delivery limit.
/// - [`dead_letter`](Self::dead_letter): can never succeed; parked in the dead-letter queue.
/// - [`settle`](Self::settle): one of those three, chosen by a [`Disposition`].
/// - [`Deliveries::ack`]: acked with the rest of its batch, in one frame.
/// - [`release`](Self::release): deliberately left unanswered (shutdown while the work cannot
///   be done); the broker puts it back in the queue when the channel closes.
/// - A settlement that fails ([`SettleError`]) also ends it: the answer did not reach the
///   broker, or not in time, and the caller is to end the session; the broker puts the
///   delivery back in the queue when the channel closes.
/// - Dropped without any of these: a bug, logged at ERROR; the broker puts it back in the
///   queue when the channel closes. If the channel has closed already (the connection was
///   lost), it is back in the queue, and the drop is logged at WARN.
///
/// Every answer is bounded by the settle timeout: a broker that does not answer cannot hang
/// a consumer.
#[must_use = "a delivery must be settled: ack, retry, dead_letter or release it"]
#[derive(Debug)]
pub struct Delivery {
    inner: lapin::message::Delivery,
    unsettled: Unsettled,
    settled: bool,
}

impl Delivery {
    pub(crate) fn new(inner: lapin::message::Delivery, unsettled: Unsettled) -> Self {
        unsettled.tags().insert(inner.delivery_tag);
        Self {
            inner,
            unsettled,
            settled: false,
        }
    }

    pub fn routing_key(&self) -> &str {
        self.inner.routing_key.as_str()
    }

    pub fn properties(&self) -> &BasicProperties {
        &self.inner.properties
    }

    /// The AMQP `message_id`, which the collector sets to the event id.
    pub fn message_id(&self) -> Option<&str> {
        self.inner
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str())
    }

    pub fn data(&self) -> &[u8] {
        &self.inner.data
    }

    /// Moves the body out (leaving it empty), for a consumer that keeps it without a copy.
    pub fn take_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.inner.data)
    }

    pub fn delivery_tag(&self) -> u64 {
        self.inner.delivery_tag
    }

    /// Whether the broker delivered this message before (to us or to another consumer).
    pub fn redelivered(&self) -> bool {
        self.inner.redelivered
    }

    /// Done, or a duplicate of something done: the broker removes the message.
    #[must_use = "a failed ack means the session is broken and should end"]
    pub async fn ack(self) -> Result<(), SettleError> {
        self.settle(Disposition::Ack).await
    }

    /// Failed for a reason that may pass: the broker delivers it again.
    #[must_use = "a failed retry means the session is broken and should end"]
    pub async fn retry(self) -> Result<(), SettleError> {
        self.settle(Disposition::Retry).await
    }

    /// Can never succeed: the broker parks it in the queue's dead-letter queue.
    #[must_use = "a failed dead-letter means the session is broken and should end"]
    pub async fn dead_letter(self) -> Result<(), SettleError> {
        self.settle(Disposition::DeadLetter).await
    }

    /// Tells the broker what became of this delivery.
    #[must_use = "a failed settlement means the session is broken and should end"]
    pub async fn settle(mut self, disposition: Disposition) -> Result<(), SettleError> {
        let nack = |requeue| BasicNackOptions {
            requeue,
            ..Default::default()
        };
        let acker = &self.inner.acker;
        let sent = bounded(async {
            match disposition {
                Disposition::Ack => acker.ack(BasicAckOptions::default()).await,
                Disposition::Retry => acker.nack(nack(true)).await,
                Disposition::DeadLetter => acker.nack(nack(false)).await,
            }
        })
        .await;
        self.mark_settled();
        sent
    }

    /// Leaves this delivery unanswered on purpose: the broker puts it back in the queue when
    /// the channel closes (at shutdown, or when the session ends for a broken connection).
    pub fn release(mut self) {
        self.mark_settled();
    }

    fn mark_settled(&mut self) {
        self.settled = true;
        self.unsettled.tags().remove(&self.inner.delivery_tag);
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.unsettled.tags().remove(&self.inner.delivery_tag);
        let tag = self.inner.delivery_tag;
        let routing_key = self.inner.routing_key.as_str();
        let message_id = self.message_id();
        if self.inner.acker.poisoned() {
            tracing::warn!(
                delivery_tag = tag,
                routing_key,
                message_id,
                "Delivery dropped unsettled after its channel closed; the broker has put it back in the queue."
            );
        } else {
            tracing::error!(
                delivery_tag = tag,
                routing_key,
                message_id,
                "Delivery dropped unsettled; the broker puts it back in the queue when the channel closes."
            );
        }
    }
}

/// Deliveries of one channel answered together, by one multiple-ack: the batch owns them, so
/// none can be answered twice or forgotten, and its ack marks every one of them settled.
#[must_use = "deliveries must be settled: ack or release them, or settle each"]
#[derive(Debug, Default)]
pub struct Deliveries(Vec<Delivery>);

impl Deliveries {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    pub fn push(&mut self, delivery: Delivery) {
        self.0.push(delivery);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Delivery> {
        self.0.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Delivery> {
        self.0.iter_mut()
    }

    /// Acks every delivery of the batch. One multiple-ack up to the highest tag does it when
    /// that answers exactly this batch (no earlier delivery of the channel is still
    /// unanswered, as for a consumer that settles in delivery order); otherwise each is acked
    /// on its own. On a failure the rest are released, for the caller to end the session.
    #[must_use = "a failed ack means the session is broken and should end"]
    pub async fn ack(mut self) -> Result<(), SettleError> {
        let Some(last) = self.0.iter().map(Delivery::delivery_tag).max() else {
            return Ok(());
        };
        if self.answers_exactly(last) {
            let sent = match self.0.iter().find(|d| d.delivery_tag() == last) {
                Some(delivery) => {
                    bounded(delivery.inner.acker.ack(BasicAckOptions { multiple: true })).await
                }
                None => Ok(()),
            };
            self.0.iter_mut().for_each(Delivery::mark_settled);
            return sent;
        }
        let mut deliveries = std::mem::take(&mut self.0).into_iter();
        while let Some(delivery) = deliveries.next() {
            if let Err(error) = delivery.ack().await {
                deliveries.for_each(Delivery::release);
                return Err(error);
            }
        }
        Ok(())
    }

    /// Leaves every delivery of the batch unanswered on purpose (see [`Delivery::release`]).
    pub fn release(self) {
        self.into_iter().for_each(Delivery::release);
    }

    /// Whether the unanswered deliveries of the channel up to `last` are all ours.
    fn answers_exactly(&self, last: u64) -> bool {
        let Some(first) = self.0.first() else {
            return true;
        };
        if !self
            .0
            .iter()
            .all(|d| Arc::ptr_eq(&d.unsettled.0, &first.unsettled.0))
        {
            // Tags of different channels: one multiple-ack cannot answer them all.
            return false;
        }
        let tags = first.unsettled.tags();
        let ours: BTreeSet<u64> = self.0.iter().map(Delivery::delivery_tag).collect();
        tags.range(..=last).all(|tag| ours.contains(tag))
    }
}

impl IntoIterator for Deliveries {
    type Item = Delivery;
    type IntoIter = std::vec::IntoIter<Delivery>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<Delivery> for Deliveries {
    fn from_iter<I: IntoIterator<Item = Delivery>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// One answer to the broker, within [`SETTLE_TIMEOUT`].
async fn bounded(
    answer: impl Future<Output = Result<bool, lapin::Error>>,
) -> Result<(), SettleError> {
    let sent = tokio::time::timeout(SETTLE_TIMEOUT, answer)
        .await
        .map_err(|_| SettleError::Timeout(SETTLE_TIMEOUT))??;
    if sent {
        Ok(())
    } else {
        Err(SettleError::NotSent)
    }
}

#[cfg(test)]
mod tests {
    use lapin::Acker;

    use super::*;
    use crate::testing::logs::capture;

    /// A delivery with no broker behind it: lapin's mock acker answers `true` to its first
    /// answer and `false` to any other.
    fn delivery(tag: u64, unsettled: &Unsettled) -> (Delivery, Acker) {
        let inner = lapin::message::Delivery::mock(
            tag,
            "events".into(),
            "error.js".into(),
            false,
            b"{}".to_vec(),
        );
        let acker = inner.acker.clone();
        (Delivery::new(inner, unsettled.clone()), acker)
    }

    fn outstanding(unsettled: &Unsettled) -> Vec<u64> {
        unsettled.tags().iter().copied().collect()
    }

    #[tokio::test]
    async fn each_answer_settles_the_delivery_once_and_quietly() {
        let (logs, _guard) = capture();
        let unsettled = Unsettled::default();
        let (one, one_acker) = delivery(1, &unsettled);
        let (two, two_acker) = delivery(2, &unsettled);
        let (three, three_acker) = delivery(3, &unsettled);
        let (four, four_acker) = delivery(4, &unsettled);
        let (five, _) = delivery(5, &unsettled);
        assert_eq!(outstanding(&unsettled), [1, 2, 3, 4, 5]);

        assert!(one.ack().await.is_ok());
        assert!(two.retry().await.is_ok());
        assert!(three.dead_letter().await.is_ok());
        assert!(four.settle(Disposition::Ack).await.is_ok());
        five.release();

        // Each acker was used exactly once (a second answer would be refused).
        for acker in [one_acker, two_acker, three_acker, four_acker] {
            assert!(!acker.usable());
        }
        assert!(outstanding(&unsettled).is_empty());
        assert_eq!(logs.text(), "");
    }

    #[tokio::test]
    async fn an_answer_that_cannot_be_sent_is_an_error_and_still_ends_the_delivery() {
        let (logs, _guard) = capture();
        let unsettled = Unsettled::default();
        let (delivery, acker) = delivery(7, &unsettled);
        // Something answered through lapin behind our back: the acker is spent.
        assert!(acker.ack(BasicAckOptions::default()).await.unwrap_or(false));

        let answered = delivery.ack().await;

        assert!(
            matches!(answered, Err(SettleError::NotSent)),
            "{answered:?}"
        );
        assert!(outstanding(&unsettled).is_empty());
        assert_eq!(
            logs.text(),
            "",
            "a failed settlement is an outcome, not a drop"
        );
    }

    #[test]
    fn a_delivery_dropped_unsettled_is_logged_at_error() {
        let (logs, _guard) = capture();
        let unsettled = Unsettled::default();
        let (delivery, _) = delivery(9, &unsettled);

        drop(delivery);

        let text = logs.text();
        assert!(text.contains("ERROR"), "{text}");
        assert!(text.contains("Delivery dropped unsettled"), "{text}");
        assert!(text.contains("delivery_tag=9"), "{text}");
        assert!(outstanding(&unsettled).is_empty());
    }

    #[test]
    fn a_batch_dropped_unsettled_logs_each_delivery() {
        let (logs, _guard) = capture();
        let unsettled = Unsettled::default();
        let batch: Deliveries = (1..=3).map(|tag| delivery(tag, &unsettled).0).collect();

        drop(batch);

        assert_eq!(logs.text().matches("Delivery dropped unsettled").count(), 3);
    }

    #[tokio::test]
    async fn a_batch_that_is_all_the_channel_owes_is_acked_in_one_frame() {
        let (logs, _guard) = capture();
        let unsettled = Unsettled::default();
        let (mut batch, mut ackers) = (Deliveries::new(), Vec::new());
        for tag in 1..=3 {
            let (delivery, acker) = delivery(tag, &unsettled);
            batch.push(delivery);
            ackers.push(acker);
        }
        // Settled on its own before the batch's ack, as the processor does with poison.
        let (poison, _) = delivery(4, &unsettled);
        assert!(poison.dead_letter().await.is_ok());
        let (last, last_acker) = delivery(5, &unsettled);
        batch.push(last);

        assert!(batch.ack().await.is_ok());

        // Only the last tag was answered, with `multiple`: the earlier ones through it.
        assert!(!last_acker.usable());
        assert!(ackers.iter().all(Acker::usable));
        assert!(outstanding(&unsettled).is_empty());
        assert_eq!(logs.text(), "", "every delivery of the batch is settled");
    }

    #[tokio::test]
    async fn a_batch_with_an_earlier_delivery_outstanding_is_acked_one_by_one() {
        let unsettled = Unsettled::default();
        // Delivered before the batch and still being worked on: a multiple-ack would ack it.
        let (earlier, earlier_acker) = delivery(1, &unsettled);
        let (mut batch, mut ackers) = (Deliveries::new(), Vec::new());
        for tag in 2..=3 {
            let (delivery, acker) = delivery(tag, &unsettled);
            batch.push(delivery);
            ackers.push(acker);
        }

        assert!(batch.ack().await.is_ok());

        assert!(ackers.iter().all(|acker| !acker.usable()));
        assert!(
            earlier_acker.usable(),
            "the earlier delivery is not answered"
        );
        assert_eq!(outstanding(&unsettled), [1]);
        assert!(earlier.retry().await.is_ok());
    }

    #[tokio::test]
    async fn a_batch_that_fails_to_ack_releases_the_rest() {
        let (logs, _guard) = capture();
        let unsettled = Unsettled::default();
        let (earlier, _) = delivery(1, &unsettled);
        let (first, first_acker) = delivery(2, &unsettled);
        let (second, second_acker) = delivery(3, &unsettled);
        assert!(
            first_acker
                .ack(BasicAckOptions::default())
                .await
                .unwrap_or(false)
        );
        let batch: Deliveries = [first, second].into_iter().collect();

        let answered = batch.ack().await;

        assert!(
            matches!(answered, Err(SettleError::NotSent)),
            "{answered:?}"
        );
        assert!(second_acker.usable(), "released, not answered");
        assert_eq!(outstanding(&unsettled), [1]);
        earlier.release();
        assert_eq!(logs.text(), "");
    }
}
