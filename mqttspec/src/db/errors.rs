//! Database errors mapped onto wire error codes; the database's own text stays in the source.

use crate::error::{Error, ErrorCode};

/// Maps a database error onto a wire code; the database's own text stays in the source.
pub(crate) fn classify(e: sqlx::Error) -> Error {
    use sqlx::error::ErrorKind;
    super::warm::fault(&e);
    let error = match &e {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => {
                Error::new(ErrorCode::Conflict, "a record with the same unique value already exists")
            }
            ErrorKind::ForeignKeyViolation => {
                Error::new(ErrorCode::Conflict, "the change would break a reference between records")
            }
            ErrorKind::NotNullViolation => Error::validation("a required field is missing"),
            ErrorKind::CheckViolation => Error::validation("a value breaks a check constraint"),
            _ => {
                let code = db.code().unwrap_or_default();
                match code.as_ref() {
                    // SQLite: busy / locked.
                    "5" | "6" | "261" | "262" | "517" => {
                        Error::new(ErrorCode::Unavailable, "the database is busy; retry")
                    }
                    // PostgreSQL: connection, resources, shutdown, serialization.
                    c if c.starts_with("08")
                        || c.starts_with("53")
                        || c.starts_with("57")
                        || c == "40001"
                        || c == "40P01" =>
                    {
                        Error::new(ErrorCode::Unavailable, "the database is unavailable; retry")
                    }
                    // PostgreSQL: data exceptions (out of range, bad encoding, ...).
                    c if c.starts_with("22") => {
                        Error::validation("a value is out of range or malformed for its column")
                    }
                    _ => Error::new(ErrorCode::InternalError, "internal error"),
                }
            }
        },
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Error::new(ErrorCode::Unavailable, "the database is unavailable; retry"),
        _ => Error::new(ErrorCode::InternalError, "internal error"),
    };
    error.with_source(e)
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        classify(e)
    }
}
