//! What a database call can fail with. Its own module: the batch calls into `issues` inside
//! its transaction, and `issues` returns the same error without importing the batch back.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable or overloaded: the same write may succeed later.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The database refused this data: the same write will never succeed.
    #[error("the database rejected the data")]
    Rejected(#[source] sqlx::Error),
    /// PostgreSQL rolled the transaction back because it got in another's way (a deadlock or
    /// a serialization failure, SQLSTATE class 40): it may be run again at once, and says
    /// nothing about the database's health.
    #[error("the transaction conflicted with another")]
    Conflict(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.code().is_some_and(|code| code.starts_with("40"))
        {
            return StoreError::Conflict(error);
        }
        let permanent = match &error {
            // SQLSTATE classes 22 (data exception), 23 (integrity constraint) and 54 (program
            // limit, e.g. a value too large) describe the data, not the database's health.
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.starts_with("22") || code.starts_with("23") || code.starts_with("54")
            }),
            sqlx::Error::Encode(_) | sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                true
            }
            _ => false,
        };
        if permanent {
            StoreError::Rejected(error)
        } else {
            StoreError::Unavailable(error)
        }
    }
}
