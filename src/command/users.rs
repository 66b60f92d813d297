//! User arguments (Trove's serialized `MySQLUser`) and the user result shape.
//!
//! A user on the wire is `{"_name", "_host", "_password", "_databases",
//! "_is_root"}`, where `_databases` holds serialized schemas
//! (`{"_name", "_character_set", "_collate"}`); plain strings are accepted too.

use secrecy::SecretString;
use serde_json::{Value, json};

use super::args::{Args, into_object};
use super::databases::{db_ref_json, parse_grant_target};
use super::names::{Account, HostPattern, Password, UserName};
use super::{Limits, ParseError};
use crate::mysql::Protected;
use crate::mysql::alter::AccountChange;
use crate::mysql::users::{Access, NewUser, UserInfo};

/// `create_user(users)`: every user is checked (names, host, password,
/// databases, duplicates, system accounts) before any is created.
pub fn parse_create(
    args: &mut Args,
    protected: &Protected,
    limits: Limits,
) -> Result<Vec<NewUser>, ParseError> {
    let list = args.list("users", limits.max_items)?;
    let mut users: Vec<NewUser> = Vec::with_capacity(list.len());
    for item in list {
        let mut u = into_object("users", item)?;
        let account = parse_account_dict(&mut u, protected)?;
        // No password: one is generated, which only a call can hand back
        // (checked by the agent, which knows how the request came).
        let password = u
            .opt_string("_password")?
            .map(|p| Password::parse(SecretString::from(p)))
            .transpose()?;
        let access = match u.opt_string("_user_type")?.as_deref() {
            None | Some("application") => Access::All,
            Some("readonly") => Access::ReadOnly,
            Some(_) => {
                return Err(ParseError::Type {
                    arg: "_user_type",
                    expected: "\"application\" or \"readonly\"",
                });
            }
        };
        let mut databases = Vec::new();
        if let Some(dbs) = u.optional("_databases") {
            let Value::Array(dbs) = dbs else {
                return Err(ParseError::Type {
                    arg: "_databases",
                    expected: "a list",
                });
            };
            if dbs.len() > limits.max_items {
                return Err(ParseError::TooMany {
                    arg: "_databases",
                    limit: limits.max_items,
                });
            }
            for db in dbs {
                databases.push(parse_grant_target(db, protected)?);
            }
        }
        databases.sort();
        databases.dedup();
        if users.iter().any(|o| o.account == account) {
            return Err(ParseError::Duplicate(account.to_string()));
        }
        users.push(NewUser {
            account,
            password,
            databases,
            access,
        });
    }
    Ok(users)
}

/// `update_attributes(username, hostname, user_attrs)`: the new name and host
/// pass the same checks as a new account (a rename onto `root` or a local
/// host is refused), the password those of any password.
pub fn parse_update(
    args: &mut Args,
    protected: &Protected,
) -> Result<(Account, AccountChange), ParseError> {
    let current = parse_account_args(args, protected)?;
    let mut attrs = args.object("user_attrs")?;
    let name = attrs.opt_string("name")?;
    let host = attrs.opt_string("host")?;
    let password = attrs
        .opt_string("password")?
        .map(|p| Password::parse(SecretString::from(p)))
        .transpose()?;
    let rename = if name.is_some() || host.is_some() {
        let name = name.as_deref().unwrap_or(current.name.as_str());
        let host = host.as_deref().unwrap_or(current.host.as_str());
        Some(account(name, Some(host), protected)?)
    } else {
        None
    };
    Ok((current, AccountChange { rename, password }))
}

/// `change_passwords(users)`: `[{"name", "host", "password"}]`, all checked first.
pub fn parse_change_passwords(
    args: &mut Args,
    protected: &Protected,
    limits: Limits,
) -> Result<Vec<(Account, Password)>, ParseError> {
    let list = args.list("users", limits.max_items)?;
    let mut out: Vec<(Account, Password)> = Vec::with_capacity(list.len());
    for item in list {
        let mut u = into_object("users", item)?;
        let name = u.string("name")?;
        let host = u.opt_string("host")?;
        let acct = account(&name, host.as_deref(), protected)?;
        let pw = Password::parse(SecretString::from(u.string("password")?))?;
        if out.iter().any(|(a, _)| *a == acct) {
            return Err(ParseError::Duplicate(acct.to_string()));
        }
        out.push((acct, pw));
    }
    Ok(out)
}

/// A user dict's `_name` and `_host` (null host means `%`).
pub fn parse_account_dict(u: &mut Args, protected: &Protected) -> Result<Account, ParseError> {
    let name = u.string("_name")?;
    let host = u.opt_string("_host")?;
    account(&name, host.as_deref(), protected)
}

/// `username` / `hostname` keyword arguments (null host means `%`).
pub fn parse_account_args(args: &mut Args, protected: &Protected) -> Result<Account, ParseError> {
    let name = args.string("username")?;
    let host = args.nullable_string("hostname")?;
    account(&name, host.as_deref(), protected)
}

fn account(name: &str, host: Option<&str>, protected: &Protected) -> Result<Account, ParseError> {
    let name = UserName::parse(name)?;
    let host = match host {
        None => HostPattern::any(),
        Some(h) => HostPattern::parse(h)?,
    };
    if protected.is_system_user(name.as_str(), host.as_str()) {
        return Err(ParseError::SystemUser(format!("{name}@{host}")));
    }
    Ok(Account { name, host })
}

/// Trove's serialized user, password always null.
pub fn user_json(u: &UserInfo) -> Value {
    json!({
        "_name": u.account.name.as_str(),
        "_host": u.account.host.as_str(),
        "_password": null,
        "_databases": u.databases.iter().map(db_ref_json).collect::<Vec<_>>(),
        "_is_root": u.is_root,
    })
}
