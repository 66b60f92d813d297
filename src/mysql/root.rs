//! Remote root: enable, disable, and whether it is enabled.
//!
//! "Root enabled" means a `root` account reachable from a non-local host
//! exists. Enabling creates or updates `root`@`%` with ALL ON *.* WITH GRANT
//! OPTION; disabling drops every non-local `root` account. The local root
//! (`root`@`localhost`, unix_socket) is never touched: no `ALTER USER` on it,
//! which on MariaDB would silently replace its socket authentication.

use mysql_async::prelude::Queryable;

use super::account::{self, Verb};
use super::{MODE, Mysql, Result, driver_error, driver_error_secret, quote, text};
use crate::model::{Account, AccountAttrs, DbError, Password, is_local_host};

impl Mysql {
    /// The non-local hosts a `root` account exists for.
    async fn remote_root_hosts(&self, conn: &mut mysql_async::Conn) -> Result<Vec<String>> {
        let hosts: Vec<Vec<u8>> = conn
            .query("SELECT Host FROM mysql.user WHERE User = 'root'")
            .await
            .map_err(|e| driver_error("look up root accounts", e))?;
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

    /// Creates or updates `root`@`%` with the password and the configured
    /// privileges (Trove's default: ALL, with grant option).
    pub async fn enable_root(&self, password: &Password) -> Result<Account> {
        let root = Account::remote_root();
        let mut conn = self.conn().await?;
        let server = self.facts()?;
        let existing = self.find(&mut conn, &root).await?;
        let (verb, plugin) = match &existing {
            Some(row) => (Verb::Alter, server.plugin_for(Some(&row.view.plugin))),
            None => (Verb::Create, server.auth),
        };
        let sql = account::statement(
            verb,
            server,
            &root,
            Some((password, plugin)),
            &AccountAttrs::default(),
        )?
        .ok_or_else(|| DbError::Protocol("an account statement without a clause".into()))?;
        conn.query_drop(sql)
            .await
            .map_err(|e| driver_error_secret("set the password of root@%", e))?;
        conn.query_drop(self.root_grant_sql(&root))
            .await
            .map_err(|e| driver_error("GRANT ON *.* TO root@%", e))?;
        Ok(root)
    }

    /// `GRANT <mysql.root_grant> ON *.* TO root@% [WITH GRANT OPTION]`:
    /// privileges validated as such when the configuration was read.
    fn root_grant_sql(&self, root: &Account) -> String {
        let privileges: Vec<&str> = self
            .root_grant
            .privileges
            .iter()
            .map(|p| p.as_str())
            .collect();
        let option = if self.root_grant.with_grant_option {
            " WITH GRANT OPTION"
        } else {
            ""
        };
        format!(
            "GRANT {} ON *.* TO {}{option}",
            privileges.join(", "),
            quote::account(root, MODE)
        )
    }

    /// Drops every non-local root account, so root can only log in locally.
    pub async fn disable_root(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        for host in self.remote_root_hosts(&mut conn).await? {
            let sql = format!("DROP USER 'root'@{}", quote::literal(&host, MODE));
            conn.query_drop(sql)
                .await
                .map_err(|e| driver_error(format!("DROP USER root@{host}"), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MysqlConfig;
    use crate::model::{Privilege, Protected};

    #[test]
    fn root_grant_follows_the_configuration() {
        let default = Mysql::new(&MysqlConfig::default(), Protected::new("root", &[], &[]));
        assert_eq!(
            default.root_grant_sql(&Account::remote_root()),
            "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION"
        );
        let cfg = MysqlConfig {
            root_grant: ["select", "process", "create user"]
                .iter()
                .map(|p| Privilege::parse(p).unwrap())
                .collect(),
            root_grant_option: false,
            ..MysqlConfig::default()
        };
        let narrow = Mysql::new(&cfg, Protected::new("root", &[], &[]));
        assert_eq!(
            narrow.root_grant_sql(&Account::remote_root()),
            "GRANT SELECT, PROCESS, CREATE USER ON *.* TO 'root'@'%'"
        );
    }
}
