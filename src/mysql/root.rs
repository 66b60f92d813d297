//! Remote root: enable, disable, and whether it is enabled.
//!
//! "Root enabled" means a `root` account reachable from a non-local host
//! exists. Enabling creates or updates `root`@`%` with ALL ON *.* WITH GRANT
//! OPTION; disabling drops every non-local `root` account. The local root
//! (`root`@`localhost`, unix_socket) is never touched: no `ALTER USER` on it,
//! which on MariaDB would silently replace its socket authentication.

use mysql_async::prelude::Queryable;

use super::users::{alter_password_sql, create_user_sql};
use super::{MODE, Mysql, MysqlError, Result, quote, text};
use crate::command::names::{Account, HostPattern, Password, UserName, is_local_host};

/// The account remote root is enabled as.
pub fn remote_root() -> Result<Account> {
    Ok(Account {
        name: UserName::parse("root").map_err(|e| MysqlError::Protocol(e.to_string()))?,
        host: HostPattern::any(),
    })
}

impl Mysql {
    /// The non-local hosts a `root` account exists for.
    async fn remote_root_hosts(&self, conn: &mut mysql_async::Conn) -> Result<Vec<String>> {
        let hosts: Vec<Vec<u8>> = conn
            .query("SELECT Host FROM mysql.user WHERE User = 'root'")
            .await
            .map_err(|e| MysqlError::from_driver("look up root accounts", e))?;
        Ok(hosts
            .into_iter()
            .map(text)
            .filter(|h| !is_local_host(h))
            .collect())
    }

    /// True when a root account reachable from a non-local host exists.
    pub async fn is_root_enabled(&self) -> Result<bool> {
        let mut conn = self.conn().await?;
        Ok(!self.remote_root_hosts(&mut conn).await?.is_empty())
    }

    /// Creates or updates `root`@`%` with the password and full privileges.
    pub async fn enable_root(&self, password: &Password) -> Result<Account> {
        let root = remote_root()?;
        let mut conn = self.conn().await?;
        let sql = if self.user_exists(&mut conn, &root).await? {
            alter_password_sql(self.facts()?.flavor, &root, password)
        } else {
            create_user_sql(self.facts()?.flavor, &root, password)
        };
        conn.query_drop(sql)
            .await
            .map_err(|e| MysqlError::from_driver_secret("set the password of root@%", e))?;
        conn.query_drop(format!(
            "GRANT ALL PRIVILEGES ON *.* TO {} WITH GRANT OPTION",
            quote::account(&root, MODE)
        ))
        .await
        .map_err(|e| MysqlError::from_driver("GRANT ALL ON *.* TO root@%", e))?;
        Ok(root)
    }

    /// Drops every non-local root account, so root can only log in locally.
    pub async fn disable_root(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        for host in self.remote_root_hosts(&mut conn).await? {
            let sql = format!("DROP USER 'root'@{}", quote::literal(&host, MODE));
            conn.query_drop(sql)
                .await
                .map_err(|e| MysqlError::from_driver(format!("DROP USER root@{host}"), e))?;
        }
        Ok(())
    }
}
