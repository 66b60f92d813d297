//! `update_attributes(username, hostname, user_attrs)`: rename, re-host,
//! re-password and/or change the attributes (`_require`, limits, `_locked`,
//! `_password_expire_days`) of one account, as one unit (cast).
//!
//! The new name and host pass the same checks as a new account (a rename
//! onto `root` or a local host is refused), the password those of any
//! password. The target name must be free; if the password change fails
//! after a rename, the rename is undone.

use serde_json::Value;

use crate::command::{Args, Env, Method, ParseCx, ParseError, WriteMethod, parse};
use crate::model::{Account, AccountChange, ActionType, Attempt, Database, DbResult, Resource};

/// `update_attributes`.
#[derive(Debug)]
pub struct UpdateAttributes {
    pub account: Account,
    pub change: AccountChange,
}

impl Method for UpdateAttributes {
    const NAME: &'static str = "update_attributes";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        let account = parse::account_args(args, cx)?;
        let mut attrs = args.object("user_attrs")?;
        let name = attrs.opt_string("name")?;
        let host = attrs.opt_string("host")?;
        let password = attrs
            .opt_string("password")?
            .map(parse::password)
            .transpose()?;
        let extra = parse::attrs(&mut attrs)?;
        let auth_plugin = parse::auth_plugin(&mut attrs)?;
        if auth_plugin.is_some() && password.is_none() {
            return Err(ParseError::Unsupported(
                "_auth_plugin changes only with the password: mysqld keeps no password \
                 to store for another plugin"
                    .into(),
            ));
        }
        let rename = if name.is_some() || host.is_some() {
            let name = name.as_deref().unwrap_or(account.name.as_str());
            let host = host.as_deref().unwrap_or(account.host.as_str());
            Some(parse::account(name, Some(host), cx)?)
        } else {
            None
        };
        Ok(UpdateAttributes {
            account,
            change: AccountChange {
                rename,
                password,
                attrs: extra,
                auth_plugin,
            },
        })
    }
}

impl WriteMethod for UpdateAttributes {
    const ACTION: ActionType = ActionType::DatabaseUserUpdate;
    const TROVE_CAST: bool = true;

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::User(self.account.clone())]
    }

    fn changed(&self) -> Vec<&'static str> {
        let c = &self.change;
        let mut out = Vec::new();
        if let Some(to) = &c.rename {
            if to.name != self.account.name {
                out.push("name");
            }
            if to.host != self.account.host {
                out.push("host");
            }
        }
        if c.password.is_some() {
            out.push("password");
        }
        if c.auth_plugin.is_some() {
            out.push("_auth_plugin");
        }
        out.extend(c.attrs.names());
        out
    }

    /// The new name too: a command on it must wait for the rename.
    fn gates(&self) -> Vec<Resource> {
        std::iter::once(&self.account)
            .chain(self.change.rename.as_ref())
            .map(|a| Resource::User(a.clone()))
            .collect()
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, attempt: Attempt) -> DbResult<Value> {
        env.db
            .update_account(&self.account, &self.change, attempt)
            .await?;
        Ok(Value::Null)
    }
}
