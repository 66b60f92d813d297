//! Accounts as statements and as rows.
//!
//! [`statement`] builds `CREATE USER` and `ALTER USER`: the password only as
//! its plugin's stored form (`auth`), then the attributes, in the order
//! both MariaDB and MySQL accept (`REQUIRE`, `WITH` limits, `PASSWORD
//! EXPIRE`, `ACCOUNT LOCK`). [`AccountRow`] is an account read back with its
//! attributes, from `mysql.global_priv` on MariaDB (its `mysql.user` view
//! has no lock or lifetime) and from `mysql.user` on MySQL, where a role is
//! a row too: locked, no password, expired, or named in `mysql.role_edges`.
//! Roles are never accounts to the agent.
//!
//! On MariaDB the `Priv` document is read by [`priv_doc`].

use mysql_async::prelude::Queryable;

use super::{Flavor, MODE, Result, Server, auth, driver_error, priv_doc, quote, text};
use crate::logging::shown;
use crate::model::{Account, AccountAttrs, AccountView, AuthPlugin, Expiry, Password, Require};

/// `CREATE USER` or `ALTER USER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// A new account.
    Create,
    /// An existing one.
    Alter,
}

/// The statement for `account`: `password` (if any) as `plugin`'s stored
/// form, then `attrs`. `None` when there is nothing to say (an `ALTER`
/// without password or attributes).
pub fn statement(
    verb: Verb,
    server: &Server,
    account: &Account,
    password: Option<(&Password, AuthPlugin)>,
    attrs: &AccountAttrs,
) -> Result<Option<String>> {
    let mut sql = match verb {
        Verb::Create => "CREATE USER ",
        Verb::Alter => "ALTER USER ",
    }
    .to_owned();
    sql.push_str(&quote::account(account, MODE));
    if let Some((password, plugin)) = password {
        sql.push(' ');
        sql.push_str(&auth::identified(server.flavor, plugin, password)?);
    } else if verb == Verb::Alter && attrs.is_empty() {
        return Ok(None);
    }
    sql.push_str(&attributes(attrs));
    Ok(Some(sql))
}

/// The attribute clauses of `CREATE USER` / `ALTER USER`, each from a
/// typed value: nothing from the wire is spliced in as text.
fn attributes(a: &AccountAttrs) -> String {
    let mut out = String::new();
    if let Some(r) = a.require {
        out.push_str(match r {
            Require::None => " REQUIRE NONE",
            Require::Ssl => " REQUIRE SSL",
            Require::X509 => " REQUIRE X509",
        });
    }
    let mut limits = String::new();
    if let Some(n) = a.max_connections {
        limits.push_str(&format!(" MAX_USER_CONNECTIONS {n}"));
    }
    if let Some(n) = a.max_queries_per_hour {
        limits.push_str(&format!(" MAX_QUERIES_PER_HOUR {n}"));
    }
    if !limits.is_empty() {
        out.push_str(" WITH");
        out.push_str(&limits);
    }
    match a.password_expire {
        Some(Expiry::Never) => out.push_str(" PASSWORD EXPIRE NEVER"),
        Some(Expiry::Days(n)) => out.push_str(&format!(" PASSWORD EXPIRE INTERVAL {n} DAY")),
        None => {}
    }
    match a.locked {
        Some(true) => out.push_str(" ACCOUNT LOCK"),
        Some(false) => out.push_str(" ACCOUNT UNLOCK"),
        None => {}
    }
    out
}

/// The columns `User, Host, plugin, ssl_type, max_user_connections,
/// max_questions, locked, password_lifetime, is_role` of every account, and
/// the table they come from (no `WHERE`: the caller adds one). On MariaDB
/// 10.4+ the third holds the `Priv` document and the rest are `NULL`
/// ([`AccountRow::from_raw`] knows which by the [`Server`]).
pub fn columns(server: &Server) -> (String, &'static str) {
    match server.flavor {
        // MariaDB before 10.4: no global_priv, no lock, no password lifetime.
        Flavor::MariaDb if !server.has_global_priv => (
            "User, Host, plugin, ssl_type, max_user_connections, max_questions, 0, NULL, \
             IF(is_role = 'Y', 1, 0)"
                .to_owned(),
            "mysql.user",
        ),
        Flavor::MariaDb => (
            "User, Host, JSON_REMOVE(Priv, '$.authentication_string', '$.auth_or'), \
             NULL, NULL, NULL, NULL, NULL, NULL"
                .to_owned(),
            "mysql.global_priv",
        ),
        Flavor::MySql => {
            let edges = if server.has_role_edges {
                " OR EXISTS (SELECT 1 FROM mysql.role_edges e \
                 WHERE e.FROM_USER = u.User AND e.FROM_HOST = u.Host)"
            } else {
                ""
            };
            (
                format!(
                    "User, Host, plugin, ssl_type, max_user_connections, max_questions, \
                     IF(account_locked = 'Y', 1, 0), password_lifetime, \
                     IF((account_locked = 'Y' AND password_expired = 'Y' \
                     AND authentication_string = ''){edges}, 1, 0)"
                ),
                "mysql.user u",
            )
        }
    }
}

/// Every account with [`columns`].
pub fn rows_sql(server: &Server) -> String {
    let (cols, from) = columns(server);
    format!("SELECT {cols} FROM {from}")
}

/// One row of [`rows_sql`]. The third column is bytes: on MariaDB a
/// document another tool may have written, never a driver panic on a byte
/// that is not UTF-8.
pub type RawRow = (
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// An account as mysqld holds it.
#[derive(Debug, Clone)]
pub struct AccountRow {
    /// `User`.
    pub user: String,
    /// `Host`.
    pub host: String,
    /// Its attributes.
    pub view: AccountView,
    /// A role, not an account.
    pub is_role: bool,
}

impl AccountRow {
    /// Reads one row of [`rows_sql`] from `server`.
    pub fn from_raw(server: &Server, r: RawRow) -> AccountRow {
        let (user, host, plugin, ssl, conns, queries, locked, lifetime, role) = r;
        let (user, host) = (text(user), text(host));
        let (plugin, ssl, [conns, queries, locked, lifetime, role]) =
            if server.flavor == Flavor::MariaDb && server.has_global_priv {
                let doc = plugin.unwrap_or_default();
                priv_doc::columns(&doc).unwrap_or_else(|| {
                    // mysqld checks the document is JSON, not that it is an
                    // object: as mysqld's own JSON_VALUE would, no attribute.
                    tracing::warn!(user = %shown(&user), host = %shown(&host),
                        "account's Priv is not a JSON object; shown with no attributes");
                    (None, None, [None; 5])
                })
            } else {
                (plugin, ssl, [conns, queries, locked, lifetime, role])
            };
        let clamp = |n: Option<i64>| u32::try_from(n.unwrap_or(0).max(0)).unwrap_or(u32::MAX);
        AccountRow {
            user,
            host,
            view: AccountView {
                require: match ssl.as_deref().unwrap_or("") {
                    "" => "none",
                    "ANY" => "ssl",
                    "X509" => "x509",
                    _ => "specified",
                },
                max_connections: clamp(conns),
                max_queries_per_hour: clamp(queries),
                locked: locked == Some(1),
                password_expire_days: match lifetime {
                    Some(n) if n >= 0 => u32::try_from(n).ok(),
                    _ => None,
                },
                plugin: plugin.map(text).unwrap_or_default(),
            },
            is_role: role == Some(1),
        }
    }
}

/// The account `account`, with its attributes; `None` when there is no
/// such account (a role of that name is none).
pub async fn find(
    conn: &mut mysql_async::Conn,
    server: &Server,
    account: &Account,
) -> Result<Option<AccountRow>> {
    let row: Option<RawRow> = conn
        .exec_first(
            format!("{} WHERE User = ? AND Host = ?", rows_sql(server)),
            (account.name.as_str(), account.host.as_str()),
        )
        .await
        .map_err(|e| driver_error(format!("look up {account}"), e))?;
    Ok(row
        .map(|r| AccountRow::from_raw(server, r))
        .filter(|r| !r.is_role))
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::model::{HostPattern, UserName};

    fn server(flavor: Flavor, auth: AuthPlugin) -> Server {
        Server {
            flavor,
            version: String::new(),
            has_role_edges: flavor == Flavor::MySql,
            has_global_priv: flavor == Flavor::MariaDb,
            db_all_priv_columns: Vec::new(),
            auth_plugins: vec![auth.name().to_owned()],
            auth,
        }
    }

    fn app() -> Account {
        Account {
            name: UserName::parse("app").unwrap(),
            host: HostPattern::any(),
        }
    }

    #[test]
    fn every_attribute_in_the_order_both_servers_take() {
        let pw = Password::parse(SecretString::from("sekrit' ACCOUNT UNLOCK")).unwrap();
        let all = AccountAttrs {
            require: Some(Require::Ssl),
            max_connections: Some(5),
            max_queries_per_hour: Some(100),
            locked: Some(true),
            password_expire: Some(Expiry::Days(30)),
        };
        let maria = server(Flavor::MariaDb, AuthPlugin::NativePassword);
        let sql = statement(Verb::Create, &maria, &app(), Some((&pw, maria.auth)), &all)
            .unwrap()
            .unwrap();
        assert!(
            sql.starts_with("CREATE USER 'app'@'%' IDENTIFIED BY PASSWORD '*"),
            "{sql}"
        );
        assert!(
            sql.ends_with(
                " REQUIRE SSL WITH MAX_USER_CONNECTIONS 5 MAX_QUERIES_PER_HOUR 100 \
                 PASSWORD EXPIRE INTERVAL 30 DAY ACCOUNT LOCK"
            ),
            "{sql}"
        );
        assert!(!sql.contains("sekrit"), "{sql}");
        // MySQL 8.4: caching_sha2_password, the password never in the text.
        let mysql = server(Flavor::MySql, AuthPlugin::CachingSha2);
        let sql = statement(Verb::Create, &mysql, &app(), Some((&pw, mysql.auth)), &all)
            .unwrap()
            .unwrap();
        assert!(
            sql.starts_with(
                "CREATE USER 'app'@'%' IDENTIFIED WITH caching_sha2_password AS 0x2441243030352"
            ),
            "{sql}"
        );
        assert!(
            sql.ends_with(" ACCOUNT LOCK") && !sql.contains("sekrit"),
            "{sql}"
        );
        let unlock = AccountAttrs {
            require: Some(Require::None),
            locked: Some(false),
            password_expire: Some(Expiry::Never),
            ..AccountAttrs::default()
        };
        assert_eq!(
            statement(Verb::Alter, &mysql, &app(), None, &unlock)
                .unwrap()
                .unwrap(),
            "ALTER USER 'app'@'%' REQUIRE NONE PASSWORD EXPIRE NEVER ACCOUNT UNLOCK"
        );
        assert_eq!(
            statement(Verb::Alter, &mysql, &app(), None, &AccountAttrs::default()).unwrap(),
            None
        );
    }

    #[test]
    fn rows_read_as_views() {
        let mysql = server(Flavor::MySql, AuthPlugin::CachingSha2);
        let row = AccountRow::from_raw(
            &mysql,
            (
                b"app".to_vec(),
                b"%".to_vec(),
                Some(b"ed25519".to_vec()),
                Some("X509".into()),
                Some(7),
                Some(0),
                Some(1),
                Some(0),
                Some(0),
            ),
        );
        assert_eq!(row.view.require, "x509");
        assert_eq!(row.view.max_connections, 7);
        assert!(row.view.locked && !row.is_role);
        assert_eq!(row.view.password_expire_days, Some(0), "never");
        let default = AccountRow::from_raw(
            &mysql,
            (
                b"a".to_vec(),
                b"%".to_vec(),
                None,
                Some("SPECIFIED".into()),
                Some(-1),
                None,
                None,
                Some(-1),
                Some(1),
            ),
        );
        assert_eq!(default.view.require, "specified");
        assert_eq!(default.view.max_connections, 0);
        assert_eq!(default.view.password_expire_days, None);
        assert!(default.is_role);
        // MariaDB before 10.4: `mysql.user`'s columns, read as MySQL's.
        let old = Server {
            has_global_priv: false,
            ..server(Flavor::MariaDb, AuthPlugin::NativePassword)
        };
        assert!(columns(&old).0.contains("IF(is_role = 'Y', 1, 0)"));
        let row = AccountRow::from_raw(
            &old,
            (
                b"app".to_vec(),
                b"%".to_vec(),
                Some(b"mysql_native_password".to_vec()),
                Some("ANY".into()),
                Some(3),
                Some(9),
                Some(0),
                None,
                Some(0),
            ),
        );
        assert_eq!(row.view.plugin, "mysql_native_password");
        assert_eq!(row.view.require, "ssl");
        assert_eq!(
            (row.view.max_connections, row.view.max_queries_per_hour),
            (3, 9)
        );
        assert!(!row.is_role && !row.view.locked);
    }
}
