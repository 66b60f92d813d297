//! The system-object policy: which accounts and schemas belong to the
//! server or the agent. One list, in one place.
//!
//! Nothing the control plane sends may list, read, change or grant on these.
//! The built-in entries cannot be removed; configuration (`mysql.ignore_users`,
//! `mysql.ignore_dbs`, Trove's options of the same names) can only add to them.

use super::names::is_local_host;

/// Accounts that belong to the server or the agent, by user name.
pub const BUILTIN_USERS: &[&str] = &["root", "os_admin", "mariadb.sys", "debian-sys-maint"];
/// User-name prefixes reserved by the server (MySQL's `mysql.session`, `mysql.sys`, ...).
pub const BUILTIN_USER_PREFIXES: &[&str] = &["mysql."];
/// Schemas that belong to the server.
pub const BUILTIN_DBS: &[&str] = &[
    "mysql",
    "information_schema",
    "performance_schema",
    "sys",
    "lost+found",
    "#mysql50#lost+found",
];

/// The protected names in force: the built-in ones plus configured extras and
/// the agent's own admin account.
#[derive(Debug, Clone)]
pub struct Protected {
    users: Vec<String>,
    dbs: Vec<String>,
}

impl Protected {
    /// The built-in lists, extended by `extra_users`, `extra_dbs` and the
    /// account the agent itself logs in as.
    pub fn new(admin_user: &str, extra_users: &[String], extra_dbs: &[String]) -> Self {
        let mut users: Vec<String> = BUILTIN_USERS.iter().map(|s| s.to_string()).collect();
        users.push(admin_user.to_owned());
        users.extend(extra_users.iter().cloned());
        let mut dbs: Vec<String> = BUILTIN_DBS.iter().map(|s| s.to_string()).collect();
        dbs.extend(extra_dbs.iter().cloned());
        Protected { users, dbs }
    }

    /// True if the account `name@host` belongs to the system: a reserved
    /// name on any host, or any name on a local host.
    pub fn is_system_user(&self, name: &str, host: &str) -> bool {
        name.is_empty()
            || is_local_host(host)
            || self.users.iter().any(|u| u == name)
            || BUILTIN_USER_PREFIXES.iter().any(|p| name.starts_with(p))
    }

    /// True if the schema belongs to the system. mysqld compares schema names
    /// case-sensitively on Linux, but a case variant of `mysql` is still
    /// nobody's business to create, so compare without case.
    pub fn is_system_db(&self, name: &str) -> bool {
        self.dbs.iter().any(|d| d.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_cannot_be_dropped_by_config() {
        let p = Protected::new("agent", &[], &[]);
        for (u, h) in [
            ("root", "%"),
            ("os_admin", "%"),
            ("mariadb.sys", "%"),
            ("mysql.session", "%"),
            ("app", "localhost"),
            ("app", "127.0.0.1"),
            ("agent", "%"),
            ("", "%"),
        ] {
            assert!(p.is_system_user(u, h), "{u}@{h}");
        }
        assert!(!p.is_system_user("app", "%"));
        for d in [
            "mysql",
            "MySQL",
            "sys",
            "information_schema",
            "performance_schema",
        ] {
            assert!(p.is_system_db(d), "{d}");
        }
        assert!(!p.is_system_db("app"));
        let p = Protected::new("agent", &["extra".into()], &["keep".into()]);
        assert!(p.is_system_user("extra", "%") && p.is_system_user("root", "%"));
        assert!(p.is_system_db("keep") && p.is_system_db("mysql"));
    }
}
