//! Accounts: list, read, create (with grants and attributes), delete.
//!
//! Listings read the accounts (with their attributes, roles left out) and
//! `mysql.db` once each and page in memory, so a marker from the wire is
//! only ever compared, never put into SQL. A user's databases are those
//! where it holds every database-level privilege (`GRANT ALL`), read from
//! `mysql.db` with the column set the probe found; a grant on a wildcard
//! pattern another tool made (`%`, `app\_%`) is shown as the pattern.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;

use super::account::{self, AccountRow, RawRow, Verb};
use super::quote;
use super::{MODE, Mysql, Result, driver_error, driver_error_secret, text};
use crate::model::{
    Account, AccountAttrs, Attempt, DbError, DbName, HostPattern, NewUser, Page, Require, UserInfo,
    UserName, is_local_host, partial,
};

impl Mysql {
    /// Lists the non-system accounts, sorted by `name@host`, one page at a time.
    /// `root` on a remote host is listed (as root) while remote root is enabled.
    pub async fn list_users(&self, page: &Page) -> Result<(Vec<UserInfo>, Option<String>)> {
        let mut conn = self.conn().await?;
        let users = self.accounts(&mut conn).await?;
        let (page_users, next) = page.apply(users, |u| u.0.clone());
        let mut grants = self.all_privilege_dbs(&mut conn).await?;
        let out = page_users
            .into_iter()
            .map(|(key, mut u)| {
                u.databases = grants.remove(&key).unwrap_or_default();
                u
            })
            .collect();
        Ok((out, next))
    }

    /// The listed accounts without their databases, sorted by their
    /// `name@host` key.
    pub(crate) async fn accounts(
        &self,
        conn: &mut mysql_async::Conn,
    ) -> Result<Vec<(String, UserInfo)>> {
        let server = self.facts()?;
        // Row by row: a row's `Priv` document is parsed and dropped before
        // the next is read, never all 1,000 held at once.
        let mut users: Vec<(String, UserInfo)> = conn
            .query_fold(
                account::rows_sql(server),
                Vec::new(),
                |mut users, r: RawRow| {
                    if let Some(u) = self.listed(AccountRow::from_raw(server, r)) {
                        users.push((u.marker(), u));
                    }
                    users
                },
            )
            .await
            .map_err(|e| driver_error("list users", e))?;
        users.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(users)
    }

    /// An account row as listed: `None` for roles and system accounts
    /// (remote root is listed, as root).
    fn listed(&self, row: AccountRow) -> Option<UserInfo> {
        let is_root = row.user == "root";
        let remote_root = is_root && !is_local_host(&row.host);
        if row.is_role || (self.protected.is_system_user(&row.user, &row.host) && !remote_root) {
            return None;
        }
        Some(UserInfo {
            account: Account {
                name: UserName::parse(&row.user).ok()?,
                host: HostPattern::from_server(row.host),
            },
            databases: Vec::new(),
            is_root,
            view: row.view,
        })
    }

    /// Reads one account; `None` when it does not exist (or is a role).
    ///
    /// One statement, so one round trip to mysqld: the account's row (0)
    /// with its attributes, then a row (1) per database it holds ALL on.
    pub async fn get_user(&self, account: &Account) -> Result<Option<UserInfo>> {
        let mut conn = self.conn().await?;
        let server = self.facts()?;
        let pred = server.db_all_privileges_predicate();
        let (cols, from) = account::columns(server);
        let (name, host) = (account.name.as_str(), account.host.as_str());
        let rows: Vec<GetUserRow> = conn
            .exec(
                format!(
                    "SELECT 0, {cols}, NULL FROM {from} WHERE User = ? AND Host = ? \
                     UNION ALL SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, Db \
                     FROM mysql.db WHERE User = ? AND Host = ? AND {pred}"
                ),
                (name, host, name, host),
            )
            .await
            .map_err(|e| driver_error(format!("look up {account}"), e))?;
        let mut found = None;
        let mut dbs = Vec::new();
        for (kind, u, h, plugin, ssl, conns, queries, locked, lifetime, role, db) in rows {
            match (kind, u, h) {
                (0, Some(u), Some(h)) => {
                    let row = (u, h, plugin, ssl, conns, queries, locked, lifetime, role);
                    found = Some(AccountRow::from_raw(server, row));
                }
                _ => dbs.extend(db.map(text)),
            }
        }
        let Some(mut user) = found.and_then(|row| self.listed(row)) else {
            return Ok(None);
        };
        user.account = account.clone();
        user.databases = self.user_databases(dbs.into_iter());
        Ok(Some(user))
    }

    /// The databases of `mysql.db` rows as the API shows them: unescaped,
    /// a wildcard pattern as the pattern, system schemas left out, sorted,
    /// each once.
    fn user_databases(&self, raw: impl Iterator<Item = String>) -> Vec<DbName> {
        let mut dbs: Vec<DbName> = raw
            .map(|d| quote::unescape_schema_pattern(&d).unwrap_or(d))
            .filter(|db| !self.protected.is_system_db(db))
            .map(DbName::from_server)
            .collect();
        dbs.sort();
        dbs.dedup();
        dbs
    }

    /// Creates every account with its grants and attributes, or as many as
    /// mysqld allows: all must be absent beforehand, and every plugin asked
    /// for active; if one fails, it is rolled back and the error lists
    /// exactly which accounts were created before it.
    pub async fn create_users(&self, users: &[NewUser], attempt: Attempt) -> Result<()> {
        let mut conn = self.conn().await?;
        let server = self.facts()?;
        let mut exists = Vec::with_capacity(users.len());
        for u in users {
            if let Some(p) = u.auth_plugin {
                server.require_plugin(&u.account, p)?;
            }
            let found = account::find(&mut conn, server, &u.account)
                .await?
                .is_some();
            if found && attempt == Attempt::First {
                return Err(DbError::UserExists(u.account.clone()));
            }
            exists.push(found);
        }
        let labels: Vec<String> = users.iter().map(|u| u.account.to_string()).collect();
        for (i, u) in users.iter().enumerate() {
            if let Err(e) = self.create_one(&mut conn, u, exists[i]).await {
                return Err(partial(&labels, i, e));
            }
        }
        Ok(())
    }

    /// Creates one account (or, recovering, re-asserts one this command
    /// already created) with its attributes and grants.
    async fn create_one(
        &self,
        conn: &mut mysql_async::Conn,
        u: &NewUser,
        exists: bool,
    ) -> Result<()> {
        let server = self.facts()?;
        let password = u
            .password
            .as_ref()
            .ok_or_else(|| DbError::Protocol(format!("no password for {}", u.account)))?;
        let plugin = u.auth_plugin.unwrap_or(server.auth);
        let verb = if exists { Verb::Alter } else { Verb::Create };
        let sql = account::statement(verb, server, &u.account, Some((password, plugin)), &u.attrs)?
            .ok_or_else(|| DbError::Protocol("an account statement without a clause".into()))?;
        conn.query_drop(sql)
            .await
            .map_err(|e| driver_error_secret(format!("CREATE USER {}", u.account), e))?;
        for db in &u.databases {
            let grant = format!(
                "GRANT {} ON {}.* TO {}",
                u.access.privileges().unwrap_or("USAGE"),
                quote::grant_schema(db),
                quote::account(&u.account, MODE)
            );
            let granted = match conn.query_drop(grant).await {
                Ok(()) => super::access::confirm_grant(conn, &u.account, db).await,
                Err(e) => Err(driver_error(format!("GRANT ON {db} TO {}", u.account), e)),
            };
            if let Err(err) = granted {
                // Leave nothing half-made behind: the account goes with its grant.
                let _ = conn
                    .query_drop(format!("DROP USER {}", quote::account(&u.account, MODE)))
                    .await;
                return Err(err);
            }
        }
        Ok(())
    }

    /// Deletes an account; `UserNotFound` when it does not exist (unless
    /// recovering: then it is already done).
    pub async fn delete_user(&self, account: &Account, attempt: Attempt) -> Result<()> {
        let mut conn = self.conn().await?;
        if self.find(&mut conn, account).await?.is_none() {
            return match attempt {
                Attempt::First => Err(DbError::UserNotFound(account.clone())),
                Attempt::Recovery => Ok(()),
            };
        }
        conn.query_drop(format!("DROP USER {}", quote::account(account, MODE)))
            .await
            .map_err(|e| driver_error(format!("DROP USER {account}"), e))
    }

    /// True when the account exists (a role is none).
    pub async fn account_exists(&self, account: &Account) -> Result<bool> {
        let mut conn = self.conn().await?;
        Ok(self.find(&mut conn, account).await?.is_some())
    }

    /// The account's row; `None` when there is no such account.
    pub(crate) async fn find(
        &self,
        conn: &mut mysql_async::Conn,
        account: &Account,
    ) -> Result<Option<AccountRow>> {
        account::find(conn, self.facts()?, account).await
    }

    /// Whether mysqld serves TLS: `have_ssl` is `YES`, or, where it is
    /// gone (MySQL 8.4), a certificate is configured.
    pub async fn tls_available(&self) -> Result<bool> {
        let mut conn = self.conn().await?;
        let vars: Vec<(String, Option<String>)> = conn
            .query("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('have_ssl', 'ssl_cert')")
            .await
            .map_err(|e| driver_error("read the TLS variables", e))?;
        let get = |name: &str| {
            vars.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone().unwrap_or_default())
        };
        Ok(match get("have_ssl") {
            Some(have) => have.eq_ignore_ascii_case("YES"),
            None => get("ssl_cert").is_some_and(|c| !c.is_empty()),
        })
    }

    /// Sets `REQUIRE` on every listed account but remote root (the
    /// instance's TLS mode); returns how many.
    pub async fn require_all(&self, require: Require) -> Result<usize> {
        let mut conn = self.conn().await?;
        let users = self.accounts(&mut conn).await?;
        let server = self.facts()?;
        let attrs = AccountAttrs {
            require: Some(require),
            ..AccountAttrs::default()
        };
        let mut done = 0;
        for (_, u) in users.iter().filter(|(_, u)| !u.is_root) {
            if let Some(sql) = account::statement(Verb::Alter, server, &u.account, None, &attrs)? {
                conn.query_drop(sql)
                    .await
                    .map_err(|e| driver_error(format!("ALTER USER {} REQUIRE", u.account), e))?;
                done += 1;
            }
        }
        Ok(done)
    }

    /// Databases on which each account (`name@host` key) holds ALL, sorted.
    async fn all_privilege_dbs(
        &self,
        conn: &mut mysql_async::Conn,
    ) -> Result<HashMap<String, Vec<DbName>>> {
        let pred = self.facts()?.db_all_privileges_predicate();
        let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = conn
            .query(format!("SELECT User, Host, Db FROM mysql.db WHERE {pred}"))
            .await
            .map_err(|e| driver_error("read database grants", e))?;
        let mut raw: HashMap<String, Vec<String>> = HashMap::new();
        for (u, h, d) in rows {
            raw.entry(format!("{}@{}", text(u), text(h)))
                .or_default()
                .push(text(d));
        }
        Ok(raw
            .into_iter()
            .map(|(key, dbs)| (key, self.user_databases(dbs.into_iter())))
            .collect())
    }
}

/// `get_user`'s rows: kind, an account row's columns, a database.
type GetUserRow = (
    u8,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<Vec<u8>>,
);
