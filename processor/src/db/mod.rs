//! PostgreSQL: the processor's SQL, by table.

pub mod error;
pub mod events;

pub use error::StoreError;
pub use events::{CountFilter, Cursor, EventFilter, NewEvent, Store, StoredEvent};
