//! Errors of the mysql layer, each classed retryable or permanent.

use crate::command::names::{Account, DbName};

/// Result alias for the mysql layer.
pub type Result<T> = std::result::Result<T, MysqlError>;

/// What went wrong talking to mysqld or applying a change.
#[derive(Debug, thiserror::Error)]
pub enum MysqlError {
    /// mysqld could not be reached or the connection broke: retry later.
    #[error("mysqld is unavailable: {0}")]
    Unavailable(String),
    /// mysqld refused a statement. `message` never carries secrets: statements
    /// holding an authentication hash report a fixed text instead.
    #[error("mysqld refused {what}: {message} (error {code})")]
    Server {
        /// What the agent was doing, e.g. `CREATE USER app@%`.
        what: String,
        /// mysqld's error code.
        code: u16,
        /// mysqld's message.
        message: String,
    },
    /// A query answered something the agent cannot interpret.
    #[error("unexpected answer from mysqld: {0}")]
    Protocol(String),
    /// The account does not exist.
    #[error("user {0} does not exist")]
    UserNotFound(Account),
    /// The account exists already.
    #[error("user {0} already exists")]
    UserExists(Account),
    /// The database does not exist.
    #[error("database {0} does not exist")]
    DatabaseNotFound(DbName),
    /// The server does not know a character set or collation, or they do not fit.
    #[error("{0}")]
    Charset(String),
    /// The operation is not supported on this host or flavor.
    #[error("{0}")]
    NotSupported(String),
    /// A multi-item change stopped half way; says exactly what was applied.
    #[error("{done_text}; {failed} failed: {reason}{rest}", done_text = done_text(.done), rest = rest_text(.not_attempted))]
    Partial {
        /// Items applied and left in place.
        done: Vec<String>,
        /// The item that failed (rolled back).
        failed: String,
        /// Why it failed.
        reason: Box<MysqlError>,
        /// Items never attempted.
        not_attempted: Vec<String>,
    },
}

fn done_text(done: &[String]) -> String {
    if done.is_empty() {
        "nothing was applied".into()
    } else {
        format!("applied: {}", done.join(", "))
    }
}

fn rest_text(rest: &[String]) -> String {
    if rest.is_empty() {
        String::new()
    } else {
        format!("; not attempted: {}", rest.join(", "))
    }
}

/// Item `i` of a multi-item change (named by `labels`) failed with `reason`
/// after the items before it were applied: a [`MysqlError::Partial`] saying
/// exactly that, or just `reason` when there was only one item.
pub(crate) fn partial(labels: &[String], i: usize, reason: MysqlError) -> MysqlError {
    if labels.len() <= 1 || i >= labels.len() {
        return reason;
    }
    MysqlError::Partial {
        done: labels[..i].to_vec(),
        failed: labels[i].clone(),
        reason: Box::new(reason),
        not_attempted: labels[i + 1..].to_vec(),
    }
}

/// mysqld error codes that mean "try again", not "this cannot work".
const TRANSIENT_CODES: &[u16] = &[
    1040, // too many connections
    1053, // server shutdown in progress
    1205, // lock wait timeout
    1213, // deadlock
    2002, 2003, 2006, 2013, // cannot connect, gone away, lost connection
];

impl MysqlError {
    /// True when retrying the same command later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            MysqlError::Unavailable(_) => true,
            MysqlError::Server { code, .. } => TRANSIENT_CODES.contains(code),
            MysqlError::Partial { reason, .. } => reason.is_transient(),
            _ => false,
        }
    }

    /// Wraps a driver error, naming what was being done.
    pub(crate) fn from_driver(what: impl Into<String>, e: mysql_async::Error) -> Self {
        match e {
            mysql_async::Error::Server(s) => MysqlError::Server {
                what: what.into(),
                code: s.code,
                message: s.message,
            },
            mysql_async::Error::Io(e) => MysqlError::Unavailable(e.to_string()),
            mysql_async::Error::Driver(e) => MysqlError::Unavailable(e.to_string()),
            other => MysqlError::Protocol(other.to_string()),
        }
    }

    /// Like [`MysqlError::from_driver`], for statements that carry an
    /// authentication hash: mysqld's own text is dropped, only its code kept,
    /// so no part of the statement can echo into logs or replies.
    pub(crate) fn from_driver_secret(what: impl Into<String>, e: mysql_async::Error) -> Self {
        match Self::from_driver(what, e) {
            MysqlError::Server { what, code, .. } => MysqlError::Server {
                what,
                code,
                message: "statement refused".into(),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_says_exactly_what_was_applied() {
        let labels: Vec<String> = ["a@%", "b@%", "c@%"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let e = partial(&labels, 1, MysqlError::Protocol("boom".into()));
        assert_eq!(
            e.to_string(),
            "applied: a@%; b@% failed: unexpected answer from mysqld: boom; not attempted: c@%"
        );
        let e = partial(&labels, 0, MysqlError::Unavailable("gone".into()));
        assert!(e.to_string().starts_with("nothing was applied; a@% failed"));
        assert!(
            e.is_transient(),
            "a partial failure is as transient as its cause"
        );
        let one = vec!["a@%".to_string()];
        assert!(matches!(
            partial(&one, 0, MysqlError::Protocol("x".into())),
            MysqlError::Protocol(_)
        ));
    }
}
