//! Accounts as the agent creates, changes and lists them.

use sha1::{Digest, Sha1};

use super::{AccessLevel, Account, AccountAttrs, AccountView, AuthPlugin, DbName, Password};

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The account.
    pub account: Account,
    /// Its password; `None` until the agent generates one (only for calls,
    /// which can hand it back).
    pub password: Option<Password>,
    /// Databases to grant on.
    pub databases: Vec<DbName>,
    /// What the grants allow: [`AccessLevel::All`] or [`AccessLevel::ReadOnly`].
    pub access: AccessLevel,
    /// `_auth_plugin`; `None` for the server's default.
    pub auth_plugin: Option<AuthPlugin>,
    /// `_require`, limits, locking, expiry.
    pub attrs: AccountAttrs,
}

/// What `update_attributes` changes; at least one field is set.
#[derive(Debug, Clone)]
pub struct AccountChange {
    /// The new account name and host, when either changes.
    pub rename: Option<Account>,
    /// The new password.
    pub password: Option<Password>,
    /// Attributes to change.
    pub attrs: AccountAttrs,
    /// The authentication plugin the new password is set for (`None`:
    /// the account keeps its own).
    pub auth_plugin: Option<AuthPlugin>,
}

/// An account as listed: who it is and the databases it holds ALL on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The account.
    pub account: Account,
    /// Databases with ALL PRIVILEGES, sorted.
    pub databases: Vec<DbName>,
    /// True for the remote `root` account (listed only while enabled).
    pub is_root: bool,
    /// Its attributes as mysqld holds them.
    pub view: AccountView,
}

impl UserInfo {
    /// The paging key Trove uses: `name@host`.
    pub fn marker(&self) -> String {
        self.account.to_string()
    }
}

impl Account {
    /// Cloud66's stable user id: the same `name@host` always gives the
    /// same uid, whoever made the account.
    pub fn uid(&self) -> String {
        let digest = Sha1::digest(self.to_string().as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("user_{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::{HostPattern, UserName};
    use super::*;

    #[test]
    fn uid_is_stable_and_distinct() {
        let a = Account {
            name: UserName::parse("app").unwrap(),
            host: HostPattern::any(),
        };
        let b = Account {
            name: UserName::parse("app").unwrap(),
            host: HostPattern::parse("10.0.0.1").unwrap(),
        };
        assert_eq!(a.uid(), a.clone().uid());
        assert_ne!(a.uid(), b.uid());
        assert!(a.uid().starts_with("user_") && a.uid().len() == 17);
    }
}
