//! Accounts: list, read, create (with grants), delete.
//!
//! Listings read `mysql.user` and `mysql.db` once each and page in memory, so
//! a marker from the wire is only ever compared, never put into SQL. A user's
//! databases are those where it holds every database-level privilege
//! (`GRANT ALL`), read from `mysql.db` with the column set the probe found.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;

use super::quote::{self, native_password_hash};
use super::{Flavor, MODE, Mysql, Result, driver_error, driver_error_secret, text};
use crate::model::{
    Account, Attempt, DbError, DbName, HostPattern, NewUser, Page, Password, UserInfo, UserName,
    is_local_host, partial,
};

impl Mysql {
    /// Lists the non-system accounts, sorted by `name@host`, one page at a time.
    /// `root` on a remote host is listed (as root) while remote root is enabled.
    pub async fn list_users(&self, page: &Page) -> Result<(Vec<UserInfo>, Option<String>)> {
        let mut conn = self.conn().await?;
        let sql = if self.facts()?.has_roles {
            "SELECT User, Host FROM mysql.user WHERE is_role = 'N'"
        } else {
            "SELECT User, Host FROM mysql.user"
        };
        let rows: Vec<(Vec<u8>, Vec<u8>)> = conn
            .query(sql)
            .await
            .map_err(|e| driver_error("list users", e))?;
        let mut users: Vec<(String, Account, bool)> = rows
            .into_iter()
            .filter_map(|(u, h)| {
                let (name, host) = (text(u), text(h));
                let is_root = name == "root";
                let remote_root = is_root && !is_local_host(&host);
                if self.protected.is_system_user(&name, &host) && !remote_root {
                    return None;
                }
                let account = Account {
                    name: UserName::parse(&name).ok()?,
                    host: HostPattern::from_server(host),
                };
                Some((account.to_string(), account, is_root))
            })
            .collect();
        users.sort_by(|a, b| a.0.cmp(&b.0));
        let (page_users, next) = page.apply(users, |u| u.0.clone());
        let mut grants = self.all_privilege_dbs(&mut conn).await?;
        let out = page_users
            .into_iter()
            .map(|(key, account, is_root)| UserInfo {
                databases: grants.remove(&key).unwrap_or_default(),
                account,
                is_root,
            })
            .collect();
        Ok((out, next))
    }

    /// Reads one account; `None` when it does not exist.
    ///
    /// One statement, so one round trip to mysqld: a marker row (0) when the
    /// account exists, then a row (1) per database it holds ALL on.
    pub async fn get_user(&self, account: &Account) -> Result<Option<UserInfo>> {
        let mut conn = self.conn().await?;
        let pred = self.facts()?.db_all_privileges_predicate();
        let (name, host) = (account.name.as_str(), account.host.as_str());
        let rows: Vec<(u8, Option<Vec<u8>>)> = conn
            .exec(
                format!(
                    "SELECT 0, NULL FROM mysql.user WHERE User = ? AND Host = ? \
                     UNION ALL SELECT 1, Db FROM mysql.db WHERE User = ? AND Host = ? AND {pred}"
                ),
                (name, host, name, host),
            )
            .await
            .map_err(|e| driver_error(format!("look up {account}"), e))?;
        if !rows.iter().any(|(kind, _)| *kind == 0) {
            return Ok(None);
        }
        let raw = rows.into_iter().filter_map(|(kind, db)| match kind {
            1 => db.map(text),
            _ => None,
        });
        Ok(Some(UserInfo {
            databases: self.user_databases(raw),
            account: account.clone(),
            is_root: account.name.as_str() == "root",
        }))
    }

    /// The databases of `mysql.db` rows as the API shows them: unescaped,
    /// system schemas left out, sorted, each once.
    fn user_databases(&self, raw: impl Iterator<Item = String>) -> Vec<DbName> {
        let mut dbs: Vec<DbName> = raw
            .filter_map(|d| quote::unescape_schema_pattern(&d))
            .filter(|db| !self.protected.is_system_db(db))
            .map(DbName::from_server)
            .collect();
        dbs.sort();
        dbs.dedup();
        dbs
    }

    /// Creates every account with its grants, or as many as mysqld allows:
    /// all must be absent beforehand; if one fails, it is rolled back and the
    /// error lists exactly which accounts were created before it.
    pub async fn create_users(&self, users: &[NewUser], attempt: Attempt) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut exists = Vec::with_capacity(users.len());
        for u in users {
            let found = self.user_exists(&mut conn, &u.account).await?;
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
    /// already created) with its grants.
    async fn create_one(
        &self,
        conn: &mut mysql_async::Conn,
        u: &NewUser,
        exists: bool,
    ) -> Result<()> {
        let password = u
            .password
            .as_ref()
            .ok_or_else(|| DbError::Protocol(format!("no password for {}", u.account)))?;
        let sql = if exists {
            alter_password_sql(self.facts()?.flavor, &u.account, password)
        } else {
            create_user_sql(self.facts()?.flavor, &u.account, password)
        };
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
        if !self.user_exists(&mut conn, account).await? {
            return match attempt {
                Attempt::First => Err(DbError::UserNotFound(account.clone())),
                Attempt::Recovery => Ok(()),
            };
        }
        conn.query_drop(format!("DROP USER {}", quote::account(account, MODE)))
            .await
            .map_err(|e| driver_error(format!("DROP USER {account}"), e))
    }

    /// True when the account exists.
    pub async fn account_exists(&self, account: &Account) -> Result<bool> {
        let mut conn = self.conn().await?;
        self.user_exists(&mut conn, account).await
    }

    pub(crate) async fn user_exists(
        &self,
        conn: &mut mysql_async::Conn,
        account: &Account,
    ) -> Result<bool> {
        let found: Option<u8> = conn
            .exec_first(
                "SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?",
                (account.name.as_str(), account.host.as_str()),
            )
            .await
            .map_err(|e| driver_error(format!("look up {account}"), e))?;
        Ok(found.is_some())
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

/// `CREATE USER` with the password as a `mysql_native_password` hash, in the
/// syntax of the server's flavor.
pub(crate) fn create_user_sql(flavor: Flavor, account: &Account, password: &Password) -> String {
    let hash = quote::literal(&native_password_hash(password.expose()), MODE);
    let acct = quote::account(account, MODE);
    match flavor {
        Flavor::MariaDb => format!("CREATE USER {acct} IDENTIFIED BY PASSWORD {hash}"),
        Flavor::MySql => {
            format!("CREATE USER {acct} IDENTIFIED WITH mysql_native_password AS {hash}")
        }
    }
}

/// Sets an existing account's password from its hash, in the syntax of the
/// server's flavor. Never used on socket-authenticated local accounts.
pub(crate) fn alter_password_sql(flavor: Flavor, account: &Account, password: &Password) -> String {
    let hash = quote::literal(&native_password_hash(password.expose()), MODE);
    let acct = quote::account(account, MODE);
    match flavor {
        Flavor::MariaDb => format!("ALTER USER {acct} IDENTIFIED BY PASSWORD {hash}"),
        Flavor::MySql => {
            format!("ALTER USER {acct} IDENTIFIED WITH mysql_native_password AS {hash}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn acct(n: &str, h: &str) -> Account {
        Account {
            name: UserName::parse(n).unwrap(),
            host: HostPattern::parse(h).unwrap(),
        }
    }

    #[test]
    fn create_user_sql_per_flavor_never_holds_the_password() {
        let pw = Password::parse(SecretString::from("pw' ACCOUNT LOCK -- ")).unwrap();
        let a = acct("app", "%");
        let maria = create_user_sql(Flavor::MariaDb, &a, &pw);
        let mysql = create_user_sql(Flavor::MySql, &a, &pw);
        let alter_m = alter_password_sql(Flavor::MariaDb, &a, &pw);
        let alter_o = alter_password_sql(Flavor::MySql, &a, &pw);
        assert!(alter_m.starts_with("ALTER USER 'app'@'%' IDENTIFIED BY PASSWORD '*"));
        assert!(
            alter_o.starts_with("ALTER USER 'app'@'%' IDENTIFIED WITH mysql_native_password AS '*")
        );
        for sql in [&maria, &mysql, &alter_m, &alter_o] {
            assert!(!sql.contains("ACCOUNT LOCK"), "{sql}");
            assert!(sql.contains(&native_password_hash("pw' ACCOUNT LOCK -- ")));
        }
        assert!(maria.starts_with("CREATE USER 'app'@'%' IDENTIFIED BY PASSWORD '*"));
        assert!(
            mysql.starts_with("CREATE USER 'app'@'%' IDENTIFIED WITH mysql_native_password AS '*")
        );
    }
}
