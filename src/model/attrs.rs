//! Account attributes beyond Trove's name, host and password: TLS
//! requirement, connection and query limits, locking and password expiry.
//! Optional keys of the Trove user dict (`_require`, `_max_connections`,
//! `_max_queries_per_hour`, `_locked`, `_password_expire_days`), which
//! Trove's own API ignores, so the same payloads keep working.

use serde_json::{Map, Value, json};

/// `REQUIRE`: what a connection of the account must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Require {
    /// Any connection (`REQUIRE NONE`).
    None,
    /// TLS (`REQUIRE SSL`).
    Ssl,
    /// TLS with a client certificate (`REQUIRE X509`).
    X509,
}

impl Require {
    /// The wire value: `none`, `ssl` or `x509`.
    pub fn name(self) -> &'static str {
        match self {
            Require::None => "none",
            Require::Ssl => "ssl",
            Require::X509 => "x509",
        }
    }

    /// The value of that wire name.
    pub fn parse(s: &str) -> Option<Require> {
        [Require::None, Require::Ssl, Require::X509]
            .into_iter()
            .find(|r| r.name() == s)
    }
}

/// The instance's TLS mode (Trove's `ssl_mode`): what every account must
/// use, those made later included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS offered, not required.
    Basic,
    /// Every account `REQUIRE SSL`.
    Enforced,
    /// Every account `REQUIRE X509`.
    Mtls,
}

impl TlsMode {
    /// Trove's name: `basic`, `enforced`, `mtls`.
    pub fn name(self) -> &'static str {
        match self {
            TlsMode::Basic => "basic",
            TlsMode::Enforced => "enforced",
            TlsMode::Mtls => "mtls",
        }
    }

    /// The mode of that name.
    pub fn parse(s: &str) -> Option<TlsMode> {
        [TlsMode::Basic, TlsMode::Enforced, TlsMode::Mtls]
            .into_iter()
            .find(|m| m.name() == s)
    }

    /// What the mode requires of an account.
    pub fn require(self) -> Require {
        match self {
            TlsMode::Basic => Require::None,
            TlsMode::Enforced => Require::Ssl,
            TlsMode::Mtls => Require::X509,
        }
    }
}

/// `PASSWORD EXPIRE`: when the account's password expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// `PASSWORD EXPIRE NEVER` (`_password_expire_days: 0`).
    Never,
    /// `PASSWORD EXPIRE INTERVAL n DAY`, 1 to 65535.
    Days(u16),
}

/// Most connections or queries a limit may name (MySQL's and MariaDB's
/// `MAX_USER_CONNECTIONS` is a signed 32-bit number).
pub const MAX_LIMIT: u32 = i32::MAX as u32;

/// Attributes to set; `None` leaves one as it is (or, on a new account, at
/// the server's default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountAttrs {
    /// `_require`.
    pub require: Option<Require>,
    /// `_max_connections` (`MAX_USER_CONNECTIONS`; 0: no limit).
    pub max_connections: Option<u32>,
    /// `_max_queries_per_hour` (`MAX_QUERIES_PER_HOUR`; 0: no limit).
    pub max_queries_per_hour: Option<u32>,
    /// `_locked` (`ACCOUNT LOCK` / `UNLOCK`).
    pub locked: Option<bool>,
    /// `_password_expire_days`.
    pub password_expire: Option<Expiry>,
}

impl AccountAttrs {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == AccountAttrs::default()
    }

    /// The wire names of what is set, for the journal (never values).
    pub fn names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let set = [
            ("_require", self.require.is_some()),
            ("_max_connections", self.max_connections.is_some()),
            ("_max_queries_per_hour", self.max_queries_per_hour.is_some()),
            ("_locked", self.locked.is_some()),
            ("_password_expire_days", self.password_expire.is_some()),
        ];
        for (name, on) in set {
            if on {
                out.push(name);
            }
        }
        out
    }
}

/// An account's attributes as mysqld holds them, for reads: true also for
/// accounts other tools made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountView {
    /// `none`, `ssl`, `x509`, or `specified` (a cipher, issuer or subject
    /// another tool required).
    pub require: &'static str,
    /// `MAX_USER_CONNECTIONS`; 0 is no limit.
    pub max_connections: u32,
    /// `MAX_QUERIES_PER_HOUR`; 0 is no limit.
    pub max_queries_per_hour: u32,
    /// `ACCOUNT LOCK`.
    pub locked: bool,
    /// Days until the password expires: `Some(0)` never, `None` the
    /// server's default.
    pub password_expire_days: Option<u32>,
    /// The authentication plugin.
    pub plugin: String,
}

impl AccountView {
    /// The keys this adds to a Trove user dict, with their values.
    pub fn fields(&self) -> [(&'static str, Value); 6] {
        [
            ("_require", json!(self.require)),
            ("_max_connections", json!(self.max_connections)),
            ("_max_queries_per_hour", json!(self.max_queries_per_hour)),
            ("_locked", json!(self.locked)),
            ("_password_expire_days", json!(self.password_expire_days)),
            ("_auth_plugin", json!(self.plugin)),
        ]
    }

    /// Adds [`AccountView::fields`] to a user dict.
    pub fn extend(&self, user: &mut Map<String, Value>) {
        user.extend(self.fields().map(|(k, v)| (k.to_owned(), v)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_what_is_set_only() {
        let a = AccountAttrs {
            require: Some(Require::Ssl),
            locked: Some(false),
            ..AccountAttrs::default()
        };
        assert_eq!(a.names(), ["_require", "_locked"]);
        assert!(AccountAttrs::default().is_empty());
        assert_eq!(Require::parse("x509"), Some(Require::X509));
        assert_eq!(Require::parse("SSL"), None);
    }
}
