//! MariaDB's `Priv` document (`mysql.global_priv`, 10.4 and later) read as
//! the columns MySQL's `mysql.user` has.
//!
//! The document is read once per row, without its `authentication_string`
//! and `auth_or` (the password hashes: the agent never reads one), and
//! parsed here: seven `JSON_VALUE`s per row made listing 1,000 accounts
//! three times slower than reading them. Each key is read on its own, as
//! `JSON_VALUE` reads it: the first of a repeated key counts, and a value
//! of an unexpected type leaves only that key unread.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// The keys of MariaDB's `Priv` the agent reads, each as the JSON value
/// found (a number where a boolean was expected still reads as what it
/// means).
#[derive(Default)]
struct Priv {
    plugin: Option<Value>,
    ssl_type: Option<Value>,
    max_user_connections: Option<Value>,
    max_questions: Option<Value>,
    account_locked: Option<Value>,
    password_lifetime: Option<Value>,
    is_role: Option<Value>,
}

/// A key of `Priv`: one the agent reads, or any other.
#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    Plugin,
    SslType,
    MaxUserConnections,
    MaxQuestions,
    AccountLocked,
    PasswordLifetime,
    IsRole,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Priv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Priv;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Priv, A::Error> {
                let mut p = Priv::default();
                while let Some(key) = map.next_key::<Key>()? {
                    let slot = match key {
                        Key::Plugin => &mut p.plugin,
                        Key::SslType => &mut p.ssl_type,
                        Key::MaxUserConnections => &mut p.max_user_connections,
                        Key::MaxQuestions => &mut p.max_questions,
                        Key::AccountLocked => &mut p.account_locked,
                        Key::PasswordLifetime => &mut p.password_lifetime,
                        Key::IsRole => &mut p.is_role,
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    let value = map.next_value::<Value>()?;
                    // mysqld's JSON functions read the first of a repeated key.
                    slot.get_or_insert(value);
                }
                Ok(p)
            }
        }
        d.deserialize_map(Members)
    }
}

/// A `Priv` value as an integer: numbers (clamped), booleans as 0 and 1,
/// strings of either.
fn int(v: &Option<Value>) -> Option<i64> {
    match v.as_ref()? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|_| i64::MAX))
            // `as` saturates, and reads NaN as 0: no float reaches here as
            // anything but a finite or clamped count.
            .or_else(|| n.as_f64().map(|f| f as i64)),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => match s.trim() {
            "true" => Some(1),
            "false" => Some(0),
            t => t.parse().ok(),
        },
        _ => None,
    }
}

/// `plugin`, `ssl_type`, then `max_user_connections`, `max_questions`,
/// `account_locked`, `password_lifetime` and `is_role`: what [`RawRow`]
/// carries after `User` and `Host`.
pub(super) type Columns = (Option<Vec<u8>>, Option<String>, [Option<i64>; 5]);

/// `Priv` as the columns MySQL's `mysql.user` has; `None` when it is not a
/// JSON object.
pub(super) fn columns(doc: &[u8]) -> Option<Columns> {
    let p: Priv = serde_json::from_slice(doc).ok()?;
    let ssl = match int(&p.ssl_type).unwrap_or(0) {
        1 => "ANY",
        2 => "X509",
        3 => "SPECIFIED",
        // 0, and MariaDB's -1 (SSL_TYPE_NOT_SPECIFIED): nothing required.
        _ => "",
    };
    let flag = |v: &Option<Value>| Some(i64::from(int(v).unwrap_or(0) != 0));
    let plugin = match p.plugin {
        Some(Value::String(s)) => Some(s.into_bytes()),
        _ => None,
    };
    Some((
        plugin,
        Some(ssl.to_owned()),
        [
            int(&p.max_user_connections),
            int(&p.max_questions),
            flag(&p.account_locked),
            int(&p.password_lifetime),
            flag(&p.is_role),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::super::account::{AccountRow, columns as sql_columns};
    use super::super::{Flavor, Server};
    use crate::model::AuthPlugin;

    fn maria_server() -> Server {
        Server {
            flavor: Flavor::MariaDb,
            version: String::new(),
            has_role_edges: false,
            has_global_priv: true,
            db_all_priv_columns: Vec::new(),
            auth_plugins: vec![AuthPlugin::NativePassword.name().to_owned()],
            auth: AuthPlugin::NativePassword,
        }
    }

    fn maria(doc: Option<&str>) -> AccountRow {
        maria_bytes(doc.map(|d| d.as_bytes().to_vec()))
    }

    /// The row of an account whose `Priv` (hashes removed) is `doc`.
    fn maria_bytes(doc: Option<Vec<u8>>) -> AccountRow {
        let maria = maria_server();
        let (sql, _) = sql_columns(&maria);
        assert!(
            sql.contains("JSON_REMOVE(Priv, '$.authentication_string', '$.auth_or')")
                && !sql.contains("JSON_VALUE"),
            "{sql}"
        );
        AccountRow::from_raw(
            &maria,
            (
                b"app".to_vec(),
                b"%".to_vec(),
                doc,
                None,
                None,
                None,
                None,
                None,
                None,
            ),
        )
    }

    #[test]
    fn mariadb_priv_documents_read_as_views() {
        // As MariaDB 10.11 writes them (the hashes removed by the SQL).
        let row = maria(Some(
            r#"{"access":0,"version_id":101119,"plugin":"ed25519",
            "ssl_type":2,"ssl_cipher":"","x509_issuer":"",
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
        // Defaults: no lifetime key, lifetime -1, an empty document, and
        // MariaDB's "not specified" TLS type.
        for doc in [
            r#"{"plugin":"mysql_native_password"}"#,
            r#"{"password_lifetime":-1,"ssl_type":-1}"#,
            "{}",
        ] {
            let row = maria(Some(doc));
            assert_eq!(row.view.require, "none", "{doc}");
            assert_eq!(row.view.password_expire_days, None, "{doc}");
            assert!(!row.view.locked && !row.is_role, "{doc}");
        }
    }

    #[test]
    fn each_priv_key_is_read_on_its_own() {
        // One key of an unexpected type leaves the others read: a role stays
        // a role, a locked account locked.
        let row = maria(Some(
            r#"{"plugin":7,"is_role":true,"account_locked":"true","max_user_connections":"9"}"#,
        ));
        assert!(row.is_role && row.view.locked);
        assert_eq!(row.view.plugin, "");
        assert_eq!(row.view.max_connections, 9);
        let row = maria(Some(
            r#"{"ssl_type":{"x":[1]},"account_locked":true,"plugin":"ed25519"}"#,
        ));
        assert!(row.view.locked);
        assert_eq!(
            (row.view.require, row.view.plugin.as_str()),
            ("none", "ed25519")
        );
        // The first of a repeated key counts, as in mysqld's JSON_VALUE.
        let row = maria(Some(
            r#"{"is_role":true,"is_role":false,"plugin":"a","plugin":"b"}"#,
        ));
        assert!(row.is_role);
        assert_eq!(row.view.plugin, "a");
        // Numbers of every kind, clamped to the view's range.
        let row = maria(Some(
            r#"{"max_user_connections":5.0,"max_questions":18446744073709551615,"password_lifetime":1e300}"#,
        ));
        assert_eq!(row.view.max_connections, 5);
        assert_eq!(row.view.max_queries_per_hour, u32::MAX);
        assert_eq!(
            row.view.password_expire_days, None,
            "beyond u32: the server default"
        );
        let row = maria(Some(
            r#"{"max_user_connections":-3,"max_questions":-1e300}"#,
        ));
        assert_eq!(
            (row.view.max_connections, row.view.max_queries_per_hour),
            (0, 0)
        );
        // Not an object, not JSON, not UTF-8, NULL: an account with no
        // attributes, never a panic.
        for doc in [Some("[1,2]"), Some("not json"), Some(r#""\u00e9""#), None] {
            let row = maria(doc);
            assert_eq!(row.user, "app", "{doc:?}");
            assert!(!row.is_role && !row.view.locked, "{doc:?}");
        }
        let bad = maria_bytes(Some(vec![b'{', 0xff, b'}']));
        assert_eq!(bad.view.plugin, "");
    }
}
