//! Changing accounts: rename, re-host and re-password as one unit, and
//! password changes for several users.

use mysql_async::prelude::Queryable;

use super::users::alter_password_sql;
use super::{MODE, Mysql, Result, driver_error, driver_error_secret, quote};
use crate::model::{Account, AccountChange, Attempt, DbError, Password, partial};

impl Mysql {
    /// Applies a rename and/or password change as one unit: the target name
    /// must be free, and if the password change fails after a rename, the
    /// rename is undone, so either everything changes or nothing does.
    pub async fn update_account(
        &self,
        account: &Account,
        change: &AccountChange,
        attempt: Attempt,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        let target = change.rename.as_ref().filter(|t| *t != account);
        if !self.user_exists(&mut conn, account).await? {
            // Recovering a rename that already happened: only the password
            // may be left to set, on the new name.
            let renamed = match (attempt, target) {
                (Attempt::Recovery, Some(t)) => self.user_exists(&mut conn, t).await?,
                _ => false,
            };
            if !renamed {
                return Err(DbError::UserNotFound(account.clone()));
            }
            if let (Some(t), Some(pw)) = (target, &change.password) {
                conn.query_drop(alter_password_sql(self.facts()?.flavor, t, pw))
                    .await
                    .map_err(|e| driver_error_secret(format!("set the password of {t}"), e))?;
            }
            return Ok(());
        }
        if let Some(t) = target
            && self.user_exists(&mut conn, t).await?
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
        if let Some(pw) = &change.password
            && let Err(e) = conn
                .query_drop(alter_password_sql(self.facts()?.flavor, current, pw))
                .await
        {
            let err = driver_error_secret(format!("set the password of {current}"), e);
            if let Some(t) = target {
                let undo = format!(
                    "RENAME USER {} TO {}",
                    quote::account(t, MODE),
                    quote::account(account, MODE)
                );
                if let Err(u) = conn.query_drop(undo).await {
                    tracing::error!(from = %t, to = %account, error = %u, "could not undo a rename");
                }
            }
            return Err(err);
        }
        Ok(())
    }

    /// Sets several passwords: all accounts must exist before any changes;
    /// a failure half way says exactly which were changed.
    pub async fn change_passwords(&self, changes: &[(Account, Password)]) -> Result<()> {
        let mut conn = self.conn().await?;
        for (a, _) in changes {
            if !self.user_exists(&mut conn, a).await? {
                return Err(DbError::UserNotFound(a.clone()));
            }
        }
        let labels: Vec<String> = changes.iter().map(|(a, _)| a.to_string()).collect();
        for (i, (a, pw)) in changes.iter().enumerate() {
            if let Err(e) = conn
                .query_drop(alter_password_sql(self.facts()?.flavor, a, pw))
                .await
            {
                let err = driver_error_secret(format!("set the password of {a}"), e);
                return Err(partial(&labels, i, err));
            }
        }
        Ok(())
    }
}
