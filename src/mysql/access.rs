//! Database-level access: which databases a user holds ALL on, granting and
//! revoking it.
//!
//! Grants name schemas through [`quote::grant_schema`], so `_` and `%` in a
//! database name never widen a grant to other schemas. Revoking looks at the
//! rows `mysql.db` really holds for the user, so grants written by other tools
//! without that escaping (Trove's own agent among them) are revoked too.

use mysql_async::prelude::Queryable;

use super::{MODE, Mysql, Result, driver_error, quote, text};
use crate::model::{AccessLevel, AccessLevels, Account, DbError, DbName, partial};

impl Mysql {
    /// Databases the account holds ALL on; `UserNotFound` when it does not exist.
    pub async fn list_access(&self, account: &Account) -> Result<Vec<DbName>> {
        match self.get_user(account).await? {
            Some(u) => Ok(u.databases),
            None => Err(DbError::UserNotFound(account.clone())),
        }
    }

    /// Grants ALL on every database to the account. The account must exist;
    /// the names were all validated before this is called.
    pub async fn grant_access(&self, account: &Account, dbs: &[DbName]) -> Result<()> {
        let mut conn = self.conn().await?;
        if self.find(&mut conn, account).await?.is_none() {
            return Err(DbError::UserNotFound(account.clone()));
        }
        let labels: Vec<String> = dbs.iter().map(|d| d.to_string()).collect();
        for (i, db) in dbs.iter().enumerate() {
            let sql = format!(
                "GRANT ALL PRIVILEGES ON {}.* TO {}",
                quote::grant_schema(db),
                quote::account(account, MODE)
            );
            let granted = match conn.query_drop(sql).await {
                Ok(()) => confirm_grant(&mut conn, account, db).await,
                Err(e) => Err(driver_error(format!("GRANT ALL ON {db} TO {account}"), e)),
            };
            if let Err(err) = granted {
                return Err(partial(&labels, i, err));
            }
        }
        Ok(())
    }

    /// Revokes every privilege the account holds on the database. Revoking
    /// what is not granted is not an error: the end state is the one asked for.
    pub async fn revoke_access(&self, account: &Account, db: &DbName) -> Result<()> {
        let mut conn = self.conn().await?;
        if self.find(&mut conn, account).await?.is_none() {
            return Err(DbError::UserNotFound(account.clone()));
        }
        let stored: Vec<Vec<u8>> = conn
            .exec(
                "SELECT Db FROM mysql.db WHERE User = ? AND Host = ?",
                (account.name.as_str(), account.host.as_str()),
            )
            .await
            .map_err(|e| driver_error(format!("read grants of {account}"), e))?;
        for raw in stored.into_iter().map(text) {
            // As listed: unescaped, or the wildcard pattern itself.
            let listed = quote::unescape_schema_pattern(&raw).unwrap_or_else(|| raw.clone());
            if listed != db.as_str() {
                continue;
            }
            // `raw` is exactly what mysqld stores, so quoting it as an
            // identifier names that one grant row and nothing else.
            let sql = format!(
                "REVOKE ALL PRIVILEGES ON {}.* FROM {}",
                quote::ident(&raw),
                quote::account(account, MODE)
            );
            conn.query_drop(sql)
                .await
                .map_err(|e| driver_error(format!("REVOKE ALL ON {db} FROM {account}"), e))?;
        }
        Ok(())
    }
}

/// Reads back the `mysql.db` row a `GRANT ... ON <db>.*` must have made.
/// MariaDB before MDEV-39047 cuts a schema pattern longer than 64
/// characters (a name whose escaping made it longer) and grants on the cut
/// pattern, another schema; parsing refuses such names, and this makes sure
/// nothing else lands elsewhere: the stray grant is revoked and the command
/// fails.
pub(super) async fn confirm_grant(
    conn: &mut mysql_async::Conn,
    account: &Account,
    db: &DbName,
) -> Result<()> {
    let pattern = quote::escape_schema_pattern(db.as_str());
    let found: Option<u8> = conn
        .exec_first(
            "SELECT 1 FROM mysql.db WHERE User = ? AND Host = ? AND Db = ?",
            (
                account.name.as_str(),
                account.host.as_str(),
                pattern.as_str(),
            ),
        )
        .await
        .map_err(|e| driver_error(format!("read back the grant on {db}"), e))?;
    if found.is_some() {
        return Ok(());
    }
    let cut: String = pattern.chars().take(64).collect();
    let undo = format!(
        "REVOKE ALL PRIVILEGES ON {}.* FROM {}",
        quote::ident(&cut),
        quote::account(account, MODE)
    );
    if let Err(e) = conn.query_drop(undo).await {
        tracing::error!(account = %account, database = %db, error = %e, "could not revoke a grant that landed on another schema");
    }
    Err(DbError::Protocol(format!(
        "the grant on {db} to {account} did not land on {db} (mysqld stored another schema pattern); it was revoked"
    )))
}

/// `User, Host, Db, holds ALL, holds only SELECT + SHOW VIEW`.
type LevelRow = (Vec<u8>, Vec<u8>, Vec<u8>, i64, i64);

impl Mysql {
    /// Every non-system account with the databases it holds anything on and
    /// at what level, sorted by `name@host`.
    pub async fn access_levels(&self) -> Result<AccessLevels> {
        let mut conn = self.conn().await?;
        let users = self.accounts(&mut conn).await?;
        let all = self.facts()?.db_all_privileges_predicate();
        let others: Vec<String> = self
            .facts()?
            .db_all_priv_columns
            .iter()
            .filter(|c| {
                !c.eq_ignore_ascii_case("Select_priv") && !c.eq_ignore_ascii_case("Show_view_priv")
            })
            .map(|c| format!("{} = 'N'", quote::ident(c)))
            .collect();
        let readonly = format!(
            "Select_priv = 'Y' AND Show_view_priv = 'Y' AND {}",
            others.join(" AND ")
        );
        let rows: Vec<LevelRow> = conn
            .query(format!(
                "SELECT User, Host, Db, ({all}), ({readonly}) FROM mysql.db"
            ))
            .await
            .map_err(|e| driver_error("read database grants", e))?;
        let mut by_account: std::collections::HashMap<String, Vec<(DbName, AccessLevel)>> =
            std::collections::HashMap::new();
        for (u, h, d, is_all, is_ro) in rows {
            let raw = text(d);
            // A wildcard pattern another tool granted on is shown as itself.
            let db = quote::unescape_schema_pattern(&raw).unwrap_or(raw);
            if self.protected.is_system_db(&db) {
                continue;
            }
            let level = match (is_all, is_ro) {
                (1, _) => AccessLevel::All,
                (_, 1) => AccessLevel::ReadOnly,
                _ => AccessLevel::Custom,
            };
            by_account
                .entry(format!("{}@{}", text(u), text(h)))
                .or_default()
                .push((DbName::from_server(db), level));
        }
        Ok(users
            .into_iter()
            .filter(|(_, u)| !u.is_root)
            .map(|(key, u)| {
                let mut dbs = by_account.remove(&key).unwrap_or_default();
                dbs.sort_by(|a, b| a.0.cmp(&b.0));
                (u.account, u.view, dbs)
            })
            .collect())
    }
}
