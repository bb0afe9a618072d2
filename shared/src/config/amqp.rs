use std::num::NonZeroU32;

use serde::Deserialize;

use super::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpSettings {
    pub url: Secret,
    /// The topic exchange every event is published to; the other names derive from it.
    pub exchange: String,
    /// Deliveries of one message before its queue dead-letters it.
    pub delivery_limit: NonZeroU32,
    /// Messages a consumer queue holds before the broker refuses new ones (and the collector
    /// answers 503) rather than running out of memory.
    pub max_queue_length: NonZeroU32,
}

impl Default for AmqpSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
            exchange: "frontmon.events".into(),
            delivery_limit: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
            max_queue_length: NonZeroU32::new(1_000_000).unwrap_or(NonZeroU32::MIN),
        }
    }
}
