//! How many bytes of request bodies the collector holds at once, across all requests.
//!
//! Each request is limited to `collector.max_body_bytes`, but a thousand clients sending at
//! once would still add up to gigabytes. Every request reserves what it buffers (the body as
//! read, then inflated) from one shared budget while it is handled, and is refused with 503
//! and `Retry-After` when the budget is spent: the collector sheds load instead of being
//! killed for running out of memory, and SDKs retry later.

use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// Body bytes all requests together may hold, unless one request's worst case (its body and
/// its inflated body, each `max_body_bytes`) needs more. A body counted here exists up to
/// three times while its events are published (the body, the serialized events, the AMQP
/// client's frames), beside the one large body being parsed (up to ~40 bytes per byte of
/// dense JSON): 16 MiB keeps the collector under its 200 MB memory target (about 150 MB
/// measured with 64 maximal requests at once, `tests/collector/memory.rs`), and still holds
/// some 8,000 typical 2 KB requests at once, each for the milliseconds of its confirm.
const DEFAULT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Budget {
    bytes: Arc<Semaphore>,
    /// Bytes reserved now, exported as `frontmon_collector_body_bytes_held`.
    held: Gauge,
}

/// The budget is spent: retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted;

impl Budget {
    /// A budget that always fits at least a few maximal requests.
    pub fn for_body_limit(max_body_bytes: usize, held: Gauge) -> Self {
        let bytes = DEFAULT_BYTES
            .max(max_body_bytes.saturating_mul(4))
            .min(Semaphore::MAX_PERMITS);
        Self::new(bytes, held)
    }

    /// `held` follows the bytes reserved.
    pub fn new(bytes: usize, held: Gauge) -> Self {
        Self {
            bytes: Arc::new(Semaphore::new(bytes)),
            held,
        }
    }

    /// Bytes not reserved by any request.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            permit: None,
            bytes: 0,
        }
    }
}

/// One request's share of the budget; given back when dropped, with the request.
#[derive(Debug)]
pub struct Reservation {
    budget: Budget,
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl Reservation {
    /// Grows the reservation to at least `bytes` in total, without waiting.
    pub fn cover(&mut self, bytes: usize) -> Result<(), Exhausted> {
        let Some(more) = bytes.checked_sub(self.bytes).filter(|&more| more > 0) else {
            return Ok(());
        };
        let more_permits = u32::try_from(more).map_err(|_| Exhausted)?;
        let permit = match self
            .budget
            .bytes
            .clone()
            .try_acquire_many_owned(more_permits)
        {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => return Err(Exhausted),
        };
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.budget.held.inc_by(i64::from(more_permits));
        self.bytes = bytes;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // The permit goes back with the reservation; the gauge follows.
        self.budget
            .held
            .dec_by(i64::try_from(self.bytes).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_one_budget_and_give_it_back() {
        let held = Gauge::default();
        let budget = Budget::new(100, held.clone());
        let mut first = budget.reservation();
        first.cover(60).expect("fits");
        first.cover(40).expect("already covered");
        assert_eq!(budget.available(), 40);
        assert_eq!(held.get(), 60);
        let mut second = budget.reservation();
        assert_eq!(second.cover(41), Err(Exhausted));
        second.cover(40).expect("fits");
        assert_eq!(budget.available(), 0);
        drop(first);
        assert_eq!(budget.available(), 60);
        assert_eq!(held.get(), 40);
        second.cover(100).expect("fits now");
        drop(second);
        assert_eq!(budget.available(), 100);
        assert_eq!(held.get(), 0);
    }

    #[test]
    fn the_budget_fits_a_few_maximal_requests() {
        assert_eq!(
            Budget::for_body_limit(1024, Gauge::default()).available(),
            DEFAULT_BYTES
        );
        assert_eq!(
            Budget::for_body_limit(8 * 1024 * 1024, Gauge::default()).available(),
            32 * 1024 * 1024
        );
    }
}
