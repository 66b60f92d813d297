//! mysql_async's errors as [`DbError`]s, naming what the agent was doing.

use crate::model::DbError;

/// Wraps a driver error, naming what was being done.
pub(crate) fn driver_error(what: impl Into<String>, e: mysql_async::Error) -> DbError {
    match e {
        mysql_async::Error::Server(s) => DbError::Server {
            what: what.into(),
            code: s.code,
            message: s.message,
        },
        mysql_async::Error::Io(e) => DbError::Unavailable(e.to_string()),
        mysql_async::Error::Driver(e) => DbError::Unavailable(e.to_string()),
        other => DbError::Protocol(other.to_string()),
    }
}

/// Like [`driver_error`], for statements that carry an
/// authentication hash: mysqld's own text is dropped, only its code kept,
/// so no part of the statement can echo into logs or replies.
pub(crate) fn driver_error_secret(what: impl Into<String>, e: mysql_async::Error) -> DbError {
    match driver_error(what, e) {
        DbError::Server { what, code, .. } => DbError::Server {
            what,
            code,
            message: "statement refused".into(),
        },
        other => other,
    }
}
