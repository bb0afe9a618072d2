//! What keeps events in order across the processor's partition queues (docs/scaling.md): the
//! key the consistent-hash exchange hashes, set by the collector as a message header.
//!
//! Events with the same key land in the same partition, whose one active consumer stores them
//! in order, so the rows they update have one writer:
//!
//! - an error: its project and its group's fingerprint, so one hot issue's row is updated by
//!   one session instead of all of them waiting on its lock (the fingerprint of the frames as
//!   received: a minified stack groups with itself; after source maps the processor may merge
//!   two such groups into one issue, which then has two writers, as every issue has today);
//! - any other event with a session: its project and session, so a visit's page views, vitals
//!   and clicks arrive in order (entry page, page count, last activity);
//! - anything else: its project and event id, spread evenly.

use crate::event::Event;
use crate::grouping;

/// The message header the partition exchange hashes (`hash-header`).
pub const HEADER: &str = "partition_key";

/// The partition key of `event`.
pub fn key(event: &Event) -> String {
    let project = event.project_id;
    if event.routing_key().is_error()
        && let Some(group) = grouping::group_event(event)
    {
        return format!("{project}:issue:{}", group.fingerprint);
    }
    match &event.session_id {
        Some(session) => format!("{project}:session:{session}"),
        None => format!("{project}:event:{}", event.event_id),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::event::{Detail, EventId, ProjectId};

    fn event(detail: Detail) -> Event {
        let project = ProjectId::new(7).expect("non-zero");
        Event::new(
            EventId::new_random(),
            project,
            Utc::now(),
            Utc::now(),
            detail,
        )
    }

    fn error(message: &str) -> Event {
        let mut error = event(Detail::Error {});
        error.message = Some(message.into());
        error.stack = Some(format!(
            "{message}\n    at pay (https://shop.example/app.js:1:2)"
        ));
        error
    }

    fn pageview(session: Option<&str>) -> Event {
        let mut view = event(Detail::Pageview {
            referrer: None,
            title: None,
        });
        view.session_id = session.map(str::to_owned);
        view
    }

    #[test]
    fn errors_of_one_group_share_a_key_and_sessions_keep_theirs() {
        let first = error("TypeError: x is undefined");
        let again = error("TypeError: x is undefined");
        let other = error("RangeError: too deep");
        assert_ne!(first.event_id, again.event_id);
        assert_eq!(key(&first), key(&again));
        assert_ne!(key(&first), key(&other));
        assert!(key(&first).starts_with("7:issue:"), "{}", key(&first));

        assert_eq!(key(&pageview(Some("s-1"))), key(&pageview(Some("s-1"))));
        assert_eq!(key(&pageview(Some("s-1"))), "7:session:s-1");
        let lone = pageview(None);
        assert_eq!(key(&lone), format!("7:event:{}", lone.event_id));
    }
}
