//! What the alerter notified, a page at a time, newest first, by an opaque cursor (the last
//! row's creation time and id), as the issue list pages.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::db::notifications::{self, NotificationRow};

pub use crate::db::notifications::NotificationRow as AlertRow;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("not a cursor from a previous page")]
    BadCursor,
    #[error("the database is unavailable: {0}")]
    Database(#[from] sqlx::Error),
}

/// A page of notifications and where the next begins.
#[derive(Debug)]
pub struct AlertPage {
    pub rows: Vec<NotificationRow>,
    pub next: Option<String>,
}

/// The alerter's notifications, read from its schema of the processor's database.
#[derive(Clone)]
pub struct AlertLog {
    pool: PgPool,
}

impl AlertLog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The notifications of `projects` (every project's, digests of no project included,
    /// when `None`) after `cursor`, `limit` at most; `None` when the alerter never started
    /// (its schema does not exist).
    pub async fn page(
        &self,
        projects: Option<&[i64]>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Option<AlertPage>, LogError> {
        let before = cursor.map(parse_cursor).transpose()?;
        let Some(mut rows) = notifications::page(&self.pool, projects, before, limit + 1).await?
        else {
            return Ok(None);
        };
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        let next = more
            .then(|| rows.last().map(|row| cursor_of(row.created_at, row.id)))
            .flatten();
        Ok(Some(AlertPage { rows, next }))
    }
}

fn cursor_of(at: DateTime<Utc>, id: i64) -> String {
    format!("{}.{id}", at.timestamp_micros())
}

fn parse_cursor(text: &str) -> Result<(DateTime<Utc>, i64), LogError> {
    let (micros, id) = text.split_once('.').ok_or(LogError::BadCursor)?;
    let at = micros
        .parse()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or(LogError::BadCursor)?;
    let id = id.parse().map_err(|_| LogError::BadCursor)?;
    Ok((at, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_anything_else_is_refused() {
        let at = DateTime::from_timestamp_micros(1_714_572_123_456_789).unwrap_or_default();
        let cursor = cursor_of(at, 42);
        assert_eq!(cursor, "1714572123456789.42");
        assert_eq!(parse_cursor(&cursor).ok(), Some((at, 42)));
        for bad in ["", "42", "x.1", "1.x", "1.2.3", "99999999999999999999.1"] {
            assert!(
                matches!(parse_cursor(bad), Err(LogError::BadCursor)),
                "{bad}"
            );
        }
    }
}
