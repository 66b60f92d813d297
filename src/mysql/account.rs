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
//! On MariaDB the `Priv` JSON document is read whole and parsed here:
//! seven `JSON_VALUE`s per row made listing 1,000 accounts three times
//! slower than reading them, and MariaDB writes a boolean as `true` or (on
//! 10.11's `JSON_VALUE`) `1`, which a parser takes as either without a
//! second spelling in SQL.

use mysql_async::prelude::Queryable;
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroize;

use super::{Flavor, MODE, Result, Server, auth, driver_error, quote, text};
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
            "User, Host, Priv, NULL, NULL, NULL, NULL, NULL, NULL".to_owned(),
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

/// One row of [`rows_sql`].
pub type RawRow = (
    Vec<u8>,
    Vec<u8>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// The keys of MariaDB's `Priv` the agent reads; the rest are skipped
/// unparsed. Each is a [`Value`] so that a number where a boolean was
/// expected (or the reverse) reads as what it means instead of failing
/// the whole listing.
#[derive(Deserialize, Default)]
struct Priv {
    plugin: Option<String>,
    ssl_type: Option<Value>,
    max_user_connections: Option<Value>,
    max_questions: Option<Value>,
    account_locked: Option<Value>,
    password_lifetime: Option<Value>,
    is_role: Option<Value>,
}

impl Priv {
    /// `Priv` as the columns MySQL's `mysql.user` has. A document that does
    /// not parse (mysqld checks it is JSON, not its shape) reads as an
    /// account with no attributes and no plugin rather than hiding every
    /// other account.
    fn columns(doc: &str) -> (Option<String>, Option<String>, [Option<i64>; 5]) {
        let p: Priv = serde_json::from_str(doc).unwrap_or_default();
        let int = |v: &Option<Value>| match v {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::Bool(b)) => Some(i64::from(*b)),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let ssl = match int(&p.ssl_type).unwrap_or(0) {
            0 => "",
            1 => "ANY",
            2 => "X509",
            _ => "SPECIFIED",
        };
        let flag = |v: &Option<Value>| Some(i64::from(int(v).unwrap_or(0) != 0));
        (
            p.plugin,
            Some(ssl.to_owned()),
            [
                int(&p.max_user_connections),
                int(&p.max_questions),
                flag(&p.account_locked),
                int(&p.password_lifetime),
                flag(&p.is_role),
            ],
        )
    }
}

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
        let (plugin, ssl, [conns, queries, locked, lifetime, role]) =
            if server.flavor == Flavor::MariaDb && server.has_global_priv {
                // The document carries the password hash; this copy of it
                // does not outlive the parse.
                let mut doc = plugin.unwrap_or_default();
                let cols = Priv::columns(&doc);
                doc.zeroize();
                cols
            } else {
                (plugin, ssl, [conns, queries, locked, lifetime, role])
            };
        let clamp = |n: Option<i64>| u32::try_from(n.unwrap_or(0).max(0)).unwrap_or(u32::MAX);
        AccountRow {
            user: text(user),
            host: text(host),
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
                plugin: plugin.unwrap_or_default(),
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
                Some("ed25519".into()),
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
    }

    fn maria(doc: Option<&str>) -> AccountRow {
        let maria = server(Flavor::MariaDb, AuthPlugin::NativePassword);
        let (sql, _) = columns(&maria);
        assert!(sql.contains("Priv") && !sql.contains("JSON_VALUE"), "{sql}");
        let raw = (b"app".to_vec(), b"%".to_vec(), doc.map(str::to_owned));
        let (u, h, p) = raw;
        AccountRow::from_raw(&maria, (u, h, p, None, None, None, None, None, None))
    }

    #[test]
    fn mariadb_priv_documents_read_as_views() {
        // As MariaDB 10.11 writes them.
        let row = maria(Some(
            r#"{"access":0,"version_id":101119,"plugin":"ed25519",
            "authentication_string":"x","ssl_type":2,"ssl_cipher":"","x509_issuer":"",
            "x509_subject":"","max_questions":100,"max_updates":0,"max_connections":0,
            "max_user_connections":5,"max_statement_time":0.000000,"account_locked":true,
            "password_last_changed":1796609593,"password_lifetime":30}"#,
        ));
        assert_eq!(row.view.plugin, "ed25519");
        assert_eq!(row.view.require, "x509");
        assert_eq!(
            (row.view.max_connections, row.view.max_queries_per_hour),
            (5, 100)
        );
        assert!(row.view.locked && !row.is_role);
        assert_eq!(row.view.password_expire_days, Some(30));
        // A role; booleans as numbers; ssl_type 3 (a cipher or subject).
        let role = maria(Some(r#"{"is_role":1,"account_locked":0,"ssl_type":3}"#));
        assert!(role.is_role && !role.view.locked);
        assert_eq!(role.view.require, "specified");
        // Defaults: no lifetime key, lifetime -1, an empty document.
        for doc in [
            r#"{"plugin":"mysql_native_password"}"#,
            r#"{"password_lifetime":-1}"#,
            "{}",
        ] {
            let row = maria(Some(doc));
            assert_eq!(row.view.require, "none", "{doc}");
            assert_eq!(row.view.password_expire_days, None, "{doc}");
            assert!(!row.view.locked && !row.is_role, "{doc}");
        }
        // Another tool's hand edit: wrong types, huge numbers, not an
        // object, not JSON, NULL. Each reads as an account, never a panic.
        for doc in [
            Some(r#"{"plugin":7,"max_user_connections":"9"}"#),
            Some(r#"{"max_user_connections":1e300,"max_questions":99999999999999}"#),
            Some(r#"{"ssl_type":-4,"password_lifetime":"never","is_role":"yes"}"#),
            Some("[1,2]"),
            Some("not json"),
            None,
        ] {
            let row = maria(doc);
            assert_eq!(row.user, "app", "{doc:?}");
            assert!(!row.is_role, "{doc:?}");
        }
        let big = maria(Some(r#"{"max_questions":99999999999999}"#));
        assert_eq!(big.view.max_queries_per_hour, u32::MAX);
    }
}
