//! `create_user(users)`: accounts with passwords, each with a grant on its
//! `_databases` (cast; a conductor notification reports the outcome).
//!
//! Every user is checked (name, host, password, databases, duplicates,
//! system accounts) before any is created; mysqld must not have any of them
//! yet. `_user_type` (`application`, the default: ALL; `readonly`: SELECT
//! and SHOW VIEW) chooses the grant. A user without `_password` gets one
//! generated, which only a call can hand back.

use std::borrow::Cow;

use serde_json::Value;

use crate::instance::Instance;

use crate::command::{
    Args, Env, Generated, Method, ParseCx, ParseError, WriteMethod, args::into_object, parse,
};
use crate::model::{
    AccessLevel, ActionType, Attempt, Database, DbError, DbResult, NewUser, Require, Resource,
    TlsMode,
};

use super::Effect;

/// `create_user`.
#[derive(Debug)]
pub struct CreateUser(pub Vec<NewUser>);

impl Method for CreateUser {
    const NAME: &'static str = "create_user";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        let list = args.list("users", cx.limits.max_items)?;
        Ok(CreateUser(parse_users(list, cx)?))
    }
}

/// The users as the instance's TLS mode makes them: one that says nothing
/// of `_require` gets the mode's (`enforced`: SSL, `mtls`: X509), so
/// accounts made after `ssl_action` follow it too.
pub fn following_tls<'a>(users: &'a [NewUser], instance: &Instance) -> Cow<'a, [NewUser]> {
    let required = instance
        .tls_mode()
        .map(TlsMode::require)
        .filter(|r| *r != Require::None);
    match required {
        Some(r) if users.iter().any(|u| u.attrs.require.is_none()) => Cow::Owned(
            users
                .iter()
                .cloned()
                .map(|mut u| {
                    u.attrs.require.get_or_insert(r);
                    u
                })
                .collect(),
        ),
        _ => Cow::Borrowed(users),
    }
}

/// Trove's serialized users, every one checked before any is accepted
/// (also `prepare`'s `users`).
pub fn parse_users(list: Vec<Value>, cx: &ParseCx<'_>) -> Result<Vec<NewUser>, ParseError> {
    let mut users: Vec<NewUser> = Vec::with_capacity(list.len());
    for item in list {
        let mut u = into_object("users", item)?;
        let account = parse::account_dict(&mut u, cx)?;
        let password = u
            .opt_string("_password")?
            .map(parse::password)
            .transpose()?;
        let access = u
            .opt_choice(
                "_user_type",
                AccessLevel::from_user_type,
                "\"application\" or \"readonly\"",
            )?
            .unwrap_or(AccessLevel::All);
        let databases = match u.optional("_databases") {
            None => Vec::new(),
            Some(Value::Array(dbs)) => parse::grant_targets(dbs, "_databases", cx)?,
            Some(_) => {
                return Err(ParseError::Type {
                    arg: "_databases",
                    expected: "a list",
                });
            }
        };
        if users.iter().any(|o| o.account == account) {
            return Err(ParseError::Duplicate(account.to_string()));
        }
        let auth_plugin = parse::auth_plugin(&mut u)?;
        let attrs = parse::attrs(&mut u)?;
        users.push(NewUser {
            account,
            password,
            databases,
            access,
            auth_plugin,
            attrs,
        });
    }
    Ok(users)
}

impl WriteMethod for CreateUser {
    const ACTION: ActionType = ActionType::DatabaseUserCreate;
    const TROVE_CAST: bool = true;
    const EFFECT: Option<Effect> = Some(Effect::Present);

    fn resources(&self) -> Vec<Resource> {
        self.0
            .iter()
            .map(|u| Resource::User(u.account.clone()))
            .collect()
    }

    fn changed(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for u in &self.0 {
            if u.auth_plugin.is_some() && !out.contains(&"_auth_plugin") {
                out.push("_auth_plugin");
            }
            for n in u.attrs.names() {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        out
    }

    fn needs_generated_password(&self) -> bool {
        Generated::needed(&self.0)
    }

    fn generate_passwords(&mut self, generated: &mut Generated) -> Result<(), DbError> {
        generated.fill(&mut self.0)
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, attempt: Attempt) -> DbResult<Value> {
        env.db
            .create_users(&following_tls(&self.0, env.instance), attempt)
            .await?;
        Ok(Value::Null)
    }
}
