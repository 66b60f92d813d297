//! Authentication plugins the agent can set a password for: the ones whose
//! stored form it can compute itself, so a password never travels as
//! statement text.

use std::fmt;

/// An authentication plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthPlugin {
    /// `mysql_native_password`: `*` + hex SHA1(SHA1(password)). MariaDB's
    /// default; MySQL 8.4 ships it disabled and 9.0 without it.
    NativePassword,
    /// `caching_sha2_password`: MySQL 8.0+'s default (8.4's only one on by
    /// default); `$A$005$` + salt + SHA-256-crypt digest.
    CachingSha2,
    /// MariaDB's `ed25519` (`auth_ed25519`): the Ed25519 public key whose
    /// secret is the password.
    Ed25519,
}

impl AuthPlugin {
    const ALL: [AuthPlugin; 3] = [
        AuthPlugin::NativePassword,
        AuthPlugin::CachingSha2,
        AuthPlugin::Ed25519,
    ];

    /// The plugin's name in mysqld (`PLUGIN_NAME`, `mysql.user.plugin`).
    pub fn name(self) -> &'static str {
        match self {
            AuthPlugin::NativePassword => "mysql_native_password",
            AuthPlugin::CachingSha2 => "caching_sha2_password",
            AuthPlugin::Ed25519 => "ed25519",
        }
    }

    /// The plugin of that name, if the agent can set passwords for it.
    pub fn parse(name: &str) -> Option<AuthPlugin> {
        AuthPlugin::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for AuthPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
