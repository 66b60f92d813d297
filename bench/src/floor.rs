//! The SQL floor: exactly the statements the agent runs for each method
//! (src/mysql/users.rs, access.rs, databases.rs), on direct mysql_async
//! connections over the socket, with the agent's session setup and nothing
//! else: no parsing, no JSON, no journal.
//!
//! Also the fixtures: the bench's database and users, made and removed here.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};

/// Every bench account and schema starts with this; `cleanup` removes them.
pub const PREFIX: &str = "gabench_";
/// The schema users are granted on.
pub const DB: &str = "gabench_db";

/// The agent's per-connection setup (src/mysql/mod.rs, `SESSION_SETUP`).
const SESSION_SETUP: &str =
    "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')";

/// What the agent's start-up probe learns, learned the same way.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `mysql.global_priv` exists (MariaDB 10.4+): the agent reads each
    /// account's attributes from its `Priv` document.
    pub has_global_priv: bool,
    /// `` `X_priv` = 'Y' AND ... `` over `mysql.db`: the row grants ALL.
    pub all_pred: String,
    /// `@@version`.
    pub version: String,
}

impl Probe {
    /// Where the agent reads an account with its attributes
    /// (src/mysql/account.rs `columns`): on MariaDB 10.4+ the `Priv`
    /// document without its password hashes; elsewhere, `mysql.user`'s
    /// plugin (the agent reads more columns there, and on MySQL 8 looks up
    /// `mysql.role_edges` for each row: this floor is below it).
    fn accounts(&self) -> (&'static str, &'static str) {
        if self.has_global_priv {
            (
                "JSON_REMOVE(Priv, '$.authentication_string', '$.auth_or')",
                "mysql.global_priv",
            )
        } else {
            ("plugin", "mysql.user")
        }
    }
}

/// Connection options: the socket, as root (the agent's default account).
pub fn opts(socket: &str, user: &str) -> Opts {
    OptsBuilder::default()
        .socket(Some(socket.to_owned()))
        .user(Some(user.to_owned()))
        .prefer_socket(true)
        .setup(vec![SESSION_SETUP])
        .stmt_cache_size(64)
        .into()
}

/// One direct connection.
pub async fn connect(opts: &Opts) -> Result<Conn, String> {
    Conn::new(opts.clone())
        .await
        .map_err(|e| format!("mysqld: {e}"))
}

fn e(what: &str) -> impl FnOnce(mysql_async::Error) -> String + '_ {
    move |err| format!("{what}: {err}")
}

/// The agent's probe (src/mysql/mod.rs `probe`).
pub async fn probe(conn: &mut Conn) -> Result<Probe, String> {
    let version: Option<String> = conn
        .query_first("SELECT @@version")
        .await
        .map_err(e("version"))?;
    let columns: Vec<(String, String)> = conn
        .query(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME IN ('db', 'user', 'global_priv') \
             ORDER BY ORDINAL_POSITION",
        )
        .await
        .map_err(e("columns"))?;
    let has_global_priv = columns.iter().any(|(t, _)| t == "global_priv");
    let all_pred = columns
        .iter()
        .filter(|(t, c)| t == "db" && c.ends_with("_priv") && !c.eq_ignore_ascii_case("Grant_priv"))
        .map(|(_, c)| format!("{} = 'Y'", ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    Ok(Probe {
        has_global_priv,
        all_pred,
        version: version.unwrap_or_default(),
    })
}

fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

fn account(name: &str, host: &str) -> String {
    format!("{}@{}", literal(name), literal(host))
}

/// `quote::grant_schema`: `_`, `%` and `\` escaped inside the identifier.
fn grant_schema(db: &str) -> String {
    let mut out = String::new();
    for c in db.chars() {
        if matches!(c, '_' | '%' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    ident(&out)
}

/// `mysql_native_password` hash, as `quote::native_password_hash`.
pub fn native_hash(password: &str) -> String {
    use sha1::{Digest, Sha1};
    let stage2 = Sha1::digest(Sha1::digest(password.as_bytes()));
    let mut out = String::from("*");
    for b in stage2.iter() {
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// One method's SQL.
#[derive(Debug, Clone)]
pub enum Sql {
    /// `Mysql::get_user`.
    GetUser(String),
    /// `Mysql::list_users`.
    ListUsers,
    /// `Mysql::list_databases`.
    ListDatabases,
    /// `Mysql::create_users` for one user with one database and a password.
    CreateUser(String, String),
    /// `Mysql::delete_user`.
    DeleteUser(String),
    /// `Mysql::grant_access` with one database.
    Grant(String),
}

async fn user_exists(conn: &mut Conn, name: &str) -> Result<bool, String> {
    let found: Option<u8> = conn
        .exec_first(
            "SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?",
            (name, "%"),
        )
        .await
        .map_err(e("look up"))?;
    Ok(found.is_some())
}

type Row3 = (Vec<u8>, Vec<u8>, Vec<u8>);
type Row3Opt = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// Runs one method's statements; returns the rows read (a sanity count).
pub async fn run(conn: &mut Conn, probe: &Probe, sql: &Sql) -> Result<usize, String> {
    let pred = &probe.all_pred;
    match sql {
        Sql::GetUser(name) => {
            let (attrs, from) = probe.accounts();
            let rows: Vec<(u8, Option<Vec<u8>>)> = conn
                .exec(
                    format!(
                        "SELECT 0, {attrs} FROM {from} WHERE User = ? AND Host = ? \
                         UNION ALL SELECT 1, Db FROM mysql.db WHERE User = ? AND Host = ? AND {pred}"
                    ),
                    (name.as_str(), "%", name.as_str(), "%"),
                )
                .await
                .map_err(e("look up"))?;
            if !rows.iter().any(|(kind, _)| *kind == 0) {
                return Err(format!("{name} does not exist"));
            }
            Ok(rows.len())
        }
        Sql::ListUsers => {
            let (attrs, from) = probe.accounts();
            let q = format!("SELECT User, Host, {attrs} FROM {from}");
            let users: Vec<Row3Opt> = conn.query(q).await.map_err(e("users"))?;
            let grants: Vec<Row3> = conn
                .query(format!("SELECT User, Host, Db FROM mysql.db WHERE {pred}"))
                .await
                .map_err(e("grants"))?;
            Ok(users.len() + grants.len())
        }
        Sql::ListDatabases => {
            let rows: Vec<Row3> = conn
                .query(
                    "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
                     FROM information_schema.SCHEMATA",
                )
                .await
                .map_err(e("schemata"))?;
            Ok(rows.len())
        }
        Sql::CreateUser(name, password) => {
            if user_exists(conn, name).await? {
                return Err(format!("{name} exists"));
            }
            let acct = account(name, "%");
            let hash = literal(&native_hash(password));
            conn.query_drop(format!("CREATE USER {acct} IDENTIFIED BY PASSWORD {hash}"))
                .await
                .map_err(e("CREATE USER"))?;
            conn.query_drop(format!(
                "GRANT ALL PRIVILEGES ON {}.* TO {acct}",
                grant_schema(DB)
            ))
            .await
            .map_err(e("GRANT"))?;
            Ok(0)
        }
        Sql::DeleteUser(name) => {
            if !user_exists(conn, name).await? {
                return Err(format!("{name} does not exist"));
            }
            conn.query_drop(format!("DROP USER {}", account(name, "%")))
                .await
                .map_err(e("DROP USER"))?;
            Ok(0)
        }
        Sql::Grant(name) => {
            if !user_exists(conn, name).await? {
                return Err(format!("{name} does not exist"));
            }
            conn.query_drop(format!(
                "GRANT ALL PRIVILEGES ON {}.* TO {}",
                grant_schema(DB),
                account(name, "%")
            ))
            .await
            .map_err(e("GRANT"))?;
            Ok(0)
        }
    }
}

/// Removes every bench account and the bench schema.
pub async fn cleanup(conn: &mut Conn) -> Result<usize, String> {
    let users: Vec<(String, String)> = conn
        .exec(
            "SELECT User, Host FROM mysql.user WHERE User LIKE ?",
            (format!("{}%", PREFIX.replace('_', "\\_")),),
        )
        .await
        .map_err(e("list bench users"))?;
    for chunk in users.chunks(200) {
        let list = chunk
            .iter()
            .map(|(u, h)| account(u, h))
            .collect::<Vec<_>>()
            .join(", ");
        conn.query_drop(format!("DROP USER IF EXISTS {list}"))
            .await
            .map_err(e("DROP USER"))?;
    }
    conn.query_drop(format!("DROP DATABASE IF EXISTS {}", ident(DB)))
        .await
        .map_err(e("DROP DATABASE"))?;
    Ok(users.len())
}

/// Creates the bench schema.
pub async fn create_db(conn: &mut Conn) -> Result<(), String> {
    conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {}", ident(DB)))
        .await
        .map_err(e("CREATE DATABASE"))
}

/// Creates `names` @ `%` with a password, each granted ALL on the bench schema.
pub async fn create_users(conn: &mut Conn, names: &[String]) -> Result<(), String> {
    let hash = literal(&native_hash("bench-password"));
    for chunk in names.chunks(100) {
        let accts: Vec<String> = chunk.iter().map(|n| account(n, "%")).collect();
        let create = accts
            .iter()
            .map(|a| format!("{a} IDENTIFIED BY PASSWORD {hash}"))
            .collect::<Vec<_>>()
            .join(", ");
        conn.query_drop(format!("CREATE USER {create}"))
            .await
            .map_err(e("CREATE USER"))?;
        conn.query_drop(format!(
            "GRANT ALL PRIVILEGES ON {}.* TO {}",
            grant_schema(DB),
            accts.join(", ")
        ))
        .await
        .map_err(e("GRANT"))?;
    }
    Ok(())
}

/// Drops `names` @ `%`.
pub async fn drop_users(conn: &mut Conn, names: &[String]) -> Result<(), String> {
    for chunk in names.chunks(200) {
        let list = chunk
            .iter()
            .map(|n| account(n, "%"))
            .collect::<Vec<_>>()
            .join(", ");
        conn.query_drop(format!("DROP USER IF EXISTS {list}"))
            .await
            .map_err(e("DROP USER"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_statements_as_the_agent() {
        assert_eq!(grant_schema("gabench_db"), "`gabench\\_db`");
        assert_eq!(account("a", "%"), "'a'@'%'");
        // mysql_native_password of "password" (well known).
        assert_eq!(
            native_hash("password"),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
    }
}
