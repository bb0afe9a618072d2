//! A batch of deliveries, written in one transaction: each error's issue found or opened,
//! the events inserted with their issues, the events stored for the first time counted into
//! their issues, the notices that causes queued in the outbox, and, last, what those events
//! add to the analytics' rollups (pending, for a fold). The consumer acks the batch only
//! after [`Store::insert`] commits.

use std::collections::HashSet;

use shared::event::Event;
use shared::grouping::Grouping;
use uuid::Uuid;

use super::Store;
use super::StoreError;
use super::events::{self, NewEvent};
use super::rollups;
use crate::issues;

impl Store {
    /// Inserts the rows in one transaction; rows already stored are skipped. Returns how many
    /// were new. `shard` is the consume session's number: the rollup rows its batches are
    /// folded into are its own.
    pub async fn insert(&self, rows: &[NewEvent<'_>], shard: i16) -> Result<u64, StoreError> {
        // Grouped before the transaction begins: CPU work, which needs no connection.
        let groupings: Vec<Option<Grouping>> = rows
            .iter()
            .map(|row| shared::grouping::group_event(row.event))
            .collect();
        let grouped: Vec<(&Event, &Grouping)> = rows
            .iter()
            .zip(&groupings)
            .filter_map(|(row, grouping)| grouping.as_ref().map(|g| (row.event, g)))
            .collect();
        let mut tx = self.pool.begin().await?;
        // Errors get their issue first, so each event row is written once, with its issue.
        let issue_ids = issues::issue_ids(&mut tx, &grouped).await?;
        let issues: Vec<Option<i64>> = rows
            .iter()
            .zip(&groupings)
            .map(|(row, grouping)| {
                let key = (
                    i64::from(row.event.project_id.get()),
                    grouping.as_ref()?.fingerprint.clone(),
                );
                issue_ids.ids.get(&key).copied()
            })
            .collect();
        let inserted = events::insert(&mut tx, rows, &issues).await?;

        // Only the events stored just now count toward their issues: a redelivery does not,
        // nor a second copy of an event within this batch (taken from the set once).
        let mut new: HashSet<(i64, Uuid)> = inserted.into_iter().collect();
        let stored = new.len() as u64;
        let first_time: Vec<(&Event, &Option<Grouping>, &Option<i64>)> = rows
            .iter()
            .zip(&groupings)
            .zip(&issues)
            .filter(|((row, _), _)| {
                let event = row.event;
                new.remove(&(i64::from(event.project_id.get()), *event.event_id.as_uuid()))
            })
            .map(|((row, grouping), issue)| (row.event, grouping, issue))
            .collect();
        let errors: Vec<(&Event, &Grouping, i64)> = first_time
            .iter()
            .filter_map(|(event, grouping, issue)| Some((*event, grouping.as_ref()?, (**issue)?)))
            .collect();
        let notices = issues::record(&mut tx, &errors, &issue_ids.created).await?;
        // Last: the batch's rollup additions, stored pending (one row per table, shared
        // with no other batch) for a fold to add to the rollup tables.
        let rollup = self
            .analytics
            .rollup(first_time.iter().map(|(event, _, issue)| (*event, **issue)));
        if !rollup.is_empty() {
            rollups::write(&mut tx, &rollup, shard).await?;
        }
        tx.commit().await?;
        if notices > 0 {
            self.outbox.wake();
        }
        if !rollup.is_empty() {
            self.analytics.stored();
        }
        Ok(stored)
    }
}
