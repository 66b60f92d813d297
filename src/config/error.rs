//! [`ConfigError`]: every way loading the configuration can fail.
//!
//! Each variant names the file and, where there is one, the key. No variant ever
//! carries a configured value: a message can be printed or logged as it is without
//! leaking a password or key.

use std::path::PathBuf;

/// Why the configuration could not be loaded. All of these are fatal: the daemon
/// exits with status 2 and prints the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file (or directory).
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A file is not valid TOML (or not a valid Trove INI file).
    #[error("cannot parse {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and what, without the offending text.
        message: String,
    },
    /// A key the schema does not know (a typo, or a key in the wrong table).
    #[error("{}: unknown key `{key}`", path.display())]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The dotted key, e.g. `amqp.urll`.
        key: String,
    },
    /// A required key is not set.
    #[error("{}: required key `{key}` is missing", path.display())]
    Missing {
        /// The file (or Trove config directory) it was expected in.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A key is set to a value that is not allowed.
    #[error("{}: invalid `{key}`: {reason}", path.display())]
    Invalid {
        /// The file the value came from.
        path: PathBuf,
        /// The key, e.g. `amqp.prefetch` or `[DEFAULT] transport_url`.
        key: String,
        /// What is wrong and what is allowed; never the value itself.
        reason: String,
    },
    /// A file holding a secret can be read by every user on the host.
    #[error(
        "{} holds a secret but is readable by all users (mode {mode:04o}); \
         fix with: chmod 0640 {}",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

impl ConfigError {
    /// A short stable name of the variant, for tests that must not depend
    /// on wording.
    #[cfg(test)]
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::Read { .. } => "read",
            ConfigError::Parse { .. } => "parse",
            ConfigError::UnknownKey { .. } => "unknown_key",
            ConfigError::Missing { .. } => "missing",
            ConfigError::Invalid { .. } => "invalid",
            ConfigError::InsecurePermissions { .. } => "insecure_permissions",
        }
    }

    pub(super) fn invalid(
        path: impl Into<PathBuf>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            path: path.into(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}
