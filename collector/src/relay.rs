//! The last steps the SDK endpoints (Sentry, Faro) share once a body has become events: each
//! event scrubbed ([`scrub`]) and a message, the project's rate limit, and publishing with the broker's confirms.

use shared::config::Project;
use shared::event::Event;

use crate::error::IngestError;
use crate::ingest;
use crate::payload::Context;
use crate::scrub;
use crate::state::State;

/// Publishes `events` (read from a body of `body_len` bytes); `Ok` only once the broker has
/// confirmed every one. A request without events takes nothing from the rate limit. The
/// events are dropped as soon as they are messages: only those wait for the confirms.
pub(crate) async fn publish_events(
    mut events: Vec<Event>,
    body_len: usize,
    project: &Project,
    context: &Context,
    state: &State,
) -> Result<(), IngestError> {
    scrub::events(&mut events, project);
    let capacity = ingest::serialized_size(body_len, events.len(), context);
    let messages = events
        .iter()
        .map(|event| ingest::outgoing(event, capacity, state.partitioned))
        .collect::<Result<Vec<_>, _>>()?;
    drop(events);
    if !messages.is_empty() {
        ingest::limit(state, project, messages.len())?;
        ingest::publish(&messages, state).await?;
    }
    Ok(())
}
