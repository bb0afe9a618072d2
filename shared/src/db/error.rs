//! What a failed database call means for the work that made it: one classification of
//! `sqlx` errors, by SQLSTATE class, for every service.

/// A database call that failed, by what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database is unreachable or overloaded (connection refused or lost, no pooled
    /// connection in time, SQLSTATE 08 connection exception, 53 insufficient resources, 57P
    /// operator intervention, and whatever is not known to be the data's fault): the same
    /// write may succeed later. Hold the work and retry.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The database refused this data (SQLSTATE 22 data exception, 23 integrity constraint,
    /// 54 program limit such as a value too large; a value that cannot be encoded or decoded):
    /// the same write will never succeed. Dead-letter the work.
    #[error("the database rejected the data")]
    Rejected(#[source] sqlx::Error),
    /// PostgreSQL rolled the transaction back because it got in another's way (a deadlock or
    /// a serialization failure, SQLSTATE class 40): it may be run again at once, and says
    /// nothing about the database's health.
    #[error("the transaction conflicted with another")]
    Conflict(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        let code = match &error {
            sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
            sqlx::Error::Encode(_) | sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                return DbError::Rejected(error);
            }
            _ => None,
        };
        match code.as_deref().map(|code| code.get(..2).unwrap_or(code)) {
            Some("40") => DbError::Conflict(error),
            Some("22" | "23" | "54") => DbError::Rejected(error),
            _ => DbError::Unavailable(error),
        }
    }
}

/// A migration that cannot run leaves the service without its schema: it cannot start.
impl From<sqlx::migrate::MigrateError> for DbError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        DbError::Unavailable(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_that_are_not_the_databases_answer_are_sorted_by_what_failed() {
        assert!(matches!(
            DbError::from(sqlx::Error::PoolTimedOut),
            DbError::Unavailable(_)
        ));
        assert!(matches!(
            DbError::from(sqlx::Error::Io(
                std::io::ErrorKind::ConnectionRefused.into()
            )),
            DbError::Unavailable(_)
        ));
        assert!(matches!(
            DbError::from(sqlx::Error::Decode("not a status".into())),
            DbError::Rejected(_)
        ));
    }
}
