//! What can go wrong applying a command to the database: one enum, which
//! classifies itself (see [`Classify`]).

use super::{Account, Classify, DbName, Disposition, WireClass};

/// Result alias for database operations.
pub type DbResult<T> = std::result::Result<T, DbError>;

/// What went wrong talking to mysqld or applying a change.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
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
    /// A fact about the host could not be read (a filesystem, a file).
    #[error("{0}")]
    Host(String),
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
        reason: Box<DbError>,
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
/// after the items before it were applied: a [`DbError::Partial`] saying
/// exactly that, or just `reason` when there was only one item.
pub fn partial(labels: &[String], i: usize, reason: DbError) -> DbError {
    if labels.len() <= 1 || i >= labels.len() {
        return reason;
    }
    DbError::Partial {
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

impl DbError {
    /// True when retrying the same command later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Unavailable(_) => true,
            DbError::Server { code, .. } => TRANSIENT_CODES.contains(code),
            DbError::Partial { reason, .. } => reason.is_transient(),
            _ => false,
        }
    }
}

impl Classify for DbError {
    fn wire_class(&self) -> WireClass {
        match self {
            DbError::UserNotFound(_) => WireClass::UserNotFound,
            DbError::DatabaseNotFound(_) => WireClass::DatabaseNotFound,
            DbError::UserExists(_) | DbError::Charset(_) => WireClass::BadRequest,
            DbError::NotSupported(_) => WireClass::NotSupported,
            DbError::Partial { .. }
            | DbError::Server { .. }
            | DbError::Unavailable(_)
            | DbError::Protocol(_)
            | DbError::Host(_) => WireClass::GuestError,
        }
    }

    fn disposition(&self) -> Disposition {
        if self.is_transient() {
            Disposition::Retry
        } else {
            Disposition::Fail
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
        let e = partial(&labels, 1, DbError::Protocol("boom".into()));
        assert_eq!(
            e.to_string(),
            "applied: a@%; b@% failed: unexpected answer from mysqld: boom; not attempted: c@%"
        );
        let e = partial(&labels, 0, DbError::Unavailable("gone".into()));
        assert!(e.to_string().starts_with("nothing was applied; a@% failed"));
        assert!(
            e.is_transient(),
            "a partial failure is as transient as its cause"
        );
        let one = vec!["a@%".to_string()];
        assert!(matches!(
            partial(&one, 0, DbError::Protocol("x".into())),
            DbError::Protocol(_)
        ));
    }
}
