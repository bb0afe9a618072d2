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
    use std::borrow::Cow;

    use sqlx::error::{DatabaseError, ErrorKind};

    use super::*;

    /// PostgreSQL's answer with a SQLSTATE, as the driver hands it over.
    #[derive(Debug, thiserror::Error)]
    #[error("SQLSTATE {0}")]
    struct Answer(&'static str);

    impl DatabaseError for Answer {
        fn message(&self) -> &str {
            self.0
        }

        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }

        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }

        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    fn answer(code: &'static str) -> DbError {
        sqlx::Error::Database(Box::new(Answer(code))).into()
    }

    #[test]
    fn answers_are_sorted_by_sqlstate_class() {
        // Connection exception, cannot connect now, admin shutdown, too many connections,
        // disk full.
        for code in ["08006", "57P03", "57P01", "53300", "53100"] {
            assert!(matches!(answer(code), DbError::Unavailable(_)), "{code}");
        }
        // Invalid byte sequence (a NUL in text), value too long, not-null, check, unique,
        // row too big.
        for code in ["22021", "22001", "23502", "23514", "23505", "54000"] {
            assert!(matches!(answer(code), DbError::Rejected(_)), "{code}");
        }
        // Serialization failure, deadlock.
        for code in ["40001", "40P01"] {
            assert!(matches!(answer(code), DbError::Conflict(_)), "{code}");
        }
    }

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
