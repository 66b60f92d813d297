//! Changing accounts: rename, re-host, re-password and attributes as one
//! unit, and password changes for several users. A new password keeps the
//! account's authentication plugin when the agent can compute its stored
//! form, else gets the server's default.

use mysql_async::prelude::Queryable;

use super::account::{self, AccountRow, Verb};
use super::{MODE, Mysql, Result, driver_error, driver_error_secret, quote};
use crate::model::{
    Account, AccountAttrs, AccountChange, Attempt, AuthPlugin, DbError, Password, partial,
};

impl Mysql {
    /// `ALTER USER` for `account` (whose row is `row`): `password` as the
    /// stored form of the plugin it keeps, and `attrs`. Nothing to do
    /// when both are empty.
    async fn alter(
        &self,
        conn: &mut mysql_async::Conn,
        account: &Account,
        row: &AccountRow,
        password: Option<(&Password, Option<AuthPlugin>)>,
        attrs: &AccountAttrs,
    ) -> Result<()> {
        let server = self.facts()?;
        let asked = password.and_then(|(_, p)| p);
        if let Some(p) = asked {
            server.require_plugin(account, p)?;
        }
        let plugin = asked.unwrap_or_else(|| server.plugin_for(Some(&row.view.plugin)));
        let password = password.map(|(p, _)| p);
        let Some(sql) = account::statement(
            Verb::Alter,
            server,
            account,
            password.map(|p| (p, plugin)),
            attrs,
        )?
        else {
            return Ok(());
        };
        let run = conn.query_drop(sql).await;
        run.map_err(|e| match password {
            Some(_) => driver_error_secret(format!("set the password of {account}"), e),
            None => driver_error(format!("ALTER USER {account}"), e),
        })
    }

    /// Applies a rename, a password change and attributes as one unit: the
    /// target name must be free, and if the rest fails after a rename, the
    /// rename is undone, so either everything changes or nothing does.
    pub async fn update_account(
        &self,
        account: &Account,
        change: &AccountChange,
        attempt: Attempt,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        let target = change.rename.as_ref().filter(|t| *t != account);
        let Some(row) = self.find(&mut conn, account).await? else {
            // Recovering a rename that already happened: only the password
            // and attributes may be left to set, on the new name.
            let renamed = match (attempt, target) {
                (Attempt::Recovery, Some(t)) => self.find(&mut conn, t).await?.map(|r| (t, r)),
                _ => None,
            };
            let Some((t, row)) = renamed else {
                return Err(DbError::UserNotFound(account.clone()));
            };
            let password = change.password.as_ref().map(|p| (p, change.auth_plugin));
            return self
                .alter(&mut conn, t, &row, password, &change.attrs)
                .await;
        };
        if let Some(t) = target
            && self.find(&mut conn, t).await?.is_some()
        {
            return Err(DbError::UserExists(t.clone()));
        }
        if let Some(t) = target {
            let sql = format!(
                "RENAME USER {} TO {}",
                quote::account(account, MODE),
                quote::account(t, MODE)
            );
            conn.query_drop(sql)
                .await
                .map_err(|e| driver_error(format!("RENAME USER {account} TO {t}"), e))?;
        }
        let current = target.unwrap_or(account);
        let password = change.password.as_ref().map(|p| (p, change.auth_plugin));
        let changed = self
            .alter(&mut conn, current, &row, password, &change.attrs)
            .await;
        if let (Err(_), Some(t)) = (&changed, target) {
            let undo = format!(
                "RENAME USER {} TO {}",
                quote::account(t, MODE),
                quote::account(account, MODE)
            );
            if let Err(u) = conn.query_drop(undo).await {
                tracing::error!(from = %t, to = %account, error = %u, "could not undo a rename");
            }
        }
        changed
    }

    /// Sets several passwords: all accounts must exist before any changes;
    /// a failure half way says exactly which were changed.
    pub async fn change_passwords(&self, changes: &[(Account, Password)]) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut rows = Vec::with_capacity(changes.len());
        for (a, _) in changes {
            match self.find(&mut conn, a).await? {
                Some(row) => rows.push(row),
                None => return Err(DbError::UserNotFound(a.clone())),
            }
        }
        let labels: Vec<String> = changes.iter().map(|(a, _)| a.to_string()).collect();
        let none = AccountAttrs::default();
        for (i, ((a, pw), row)) in changes.iter().zip(&rows).enumerate() {
            if let Err(e) = self.alter(&mut conn, a, row, Some((pw, None)), &none).await {
                return Err(partial(&labels, i, e));
            }
        }
        Ok(())
    }
}
