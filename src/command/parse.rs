//! Argument shapes several methods share: Trove's serialized users
//! (`{"_name", "_host", ...}`) and schemas (`{"_name", "_character_set",
//! "_collate"}`), `username`/`hostname` pairs, and paging.

use secrecy::SecretString;
use serde_json::Value;

use super::args::{Args, into_object};
use super::{ParseCx, ParseError};
use crate::model::{
    Account, AccountAttrs, AuthPlugin, DbName, Expiry, HostPattern, MAX_LIMIT, Page, Password,
    Require, UserName,
};

/// An account from a name and a host (`None` means `%`), refused when it is
/// a system account.
pub fn account(name: &str, host: Option<&str>, cx: &ParseCx<'_>) -> Result<Account, ParseError> {
    let name = UserName::parse(name)?;
    let host = match host {
        None => HostPattern::any(),
        Some(h) => HostPattern::parse(h)?,
    };
    if cx.protected.is_system_user(name.as_str(), host.as_str()) {
        return Err(ParseError::SystemUser(format!("{name}@{host}")));
    }
    Ok(Account { name, host })
}

/// A user dict's `_name` and `_host` (null host means `%`).
pub fn account_dict(u: &mut Args, cx: &ParseCx<'_>) -> Result<Account, ParseError> {
    let name = u.string("_name")?;
    let host = u.opt_string("_host")?;
    account(&name, host.as_deref(), cx)
}

/// `username` / `hostname` keyword arguments (null host means `%`).
pub fn account_args(args: &mut Args, cx: &ParseCx<'_>) -> Result<Account, ParseError> {
    let name = args.string("username")?;
    let host = args.nullable_string("hostname")?;
    account(&name, host.as_deref(), cx)
}

/// A password argument, validated; its text moves into a secret.
pub fn password(text: String) -> Result<Password, ParseError> {
    Ok(Password::parse(SecretString::from(text))?)
}

/// A database name, refused when it is a system schema.
pub fn db_name(name: &str, cx: &ParseCx<'_>) -> Result<DbName, ParseError> {
    let db = DbName::parse(name)?;
    if cx.protected.is_system_db(db.as_str()) {
        return Err(ParseError::SystemDatabase(db.to_string()));
    }
    Ok(db)
}

/// The `_name` of a serialized schema.
pub fn schema_name(d: &mut Args, cx: &ParseCx<'_>) -> Result<DbName, ParseError> {
    db_name(&d.string("_name")?, cx)
}

/// A database reference: a serialized schema or a bare name.
pub fn db_ref(v: Value, cx: &ParseCx<'_>) -> Result<DbName, ParseError> {
    match v {
        Value::String(s) => db_name(&s, cx),
        obj @ Value::Object(_) => schema_name(&mut into_object("_databases", obj)?, cx),
        _ => Err(ParseError::Type {
            arg: "_databases",
            expected: "a list of databases",
        }),
    }
}

/// A database to grant on: a [`db_ref`] whose name still fits mysqld's 64
/// characters once escaped for `GRANT` ([`DbName::grantable`]).
pub fn grant_target(v: Value, cx: &ParseCx<'_>) -> Result<DbName, ParseError> {
    let db = db_ref(v, cx)?;
    if !db.grantable() {
        return Err(ParseError::Ungrantable(db.to_string()));
    }
    Ok(db)
}

/// A list of databases to grant on, at most `limits.max_items`, sorted and
/// each once.
pub fn grant_targets(
    list: Vec<Value>,
    arg: &'static str,
    cx: &ParseCx<'_>,
) -> Result<Vec<DbName>, ParseError> {
    if list.len() > cx.limits.max_items {
        return Err(ParseError::TooMany {
            arg,
            limit: cx.limits.max_items,
        });
    }
    let mut dbs = list
        .into_iter()
        .map(|v| grant_target(v, cx))
        .collect::<Result<Vec<_>, _>>()?;
    dbs.sort();
    dbs.dedup();
    Ok(dbs)
}

/// The account attributes of a user dict or `user_attrs`: `_require`
/// (`none`, `ssl` or `x509`), `_max_connections` and
/// `_max_queries_per_hour` (0 to 2147483647; 0 is no limit), `_locked`,
/// `_password_expire_days` (0: never; 1 to 65535 days).
pub fn attrs(u: &mut Args) -> Result<AccountAttrs, ParseError> {
    let require = u.opt_choice("_require", Require::parse, "\"none\", \"ssl\" or \"x509\"")?;
    let limit = "a whole number from 0 (no limit) to 2147483647";
    let to_u32 = |v: u64| u32::try_from(v).unwrap_or(MAX_LIMIT);
    Ok(AccountAttrs {
        require,
        max_connections: u
            .opt_uint("_max_connections", u64::from(MAX_LIMIT), limit)?
            .map(to_u32),
        max_queries_per_hour: u
            .opt_uint("_max_queries_per_hour", u64::from(MAX_LIMIT), limit)?
            .map(to_u32),
        locked: u.opt_bool("_locked")?,
        password_expire: u
            .opt_uint(
                "_password_expire_days",
                u64::from(u16::MAX),
                "a whole number of days from 0 (never) to 65535",
            )?
            .map(|d| match u16::try_from(d) {
                Ok(0) | Err(_) => Expiry::Never,
                Ok(n) => Expiry::Days(n),
            }),
    })
}

/// `_auth_plugin`: one whose stored form the agent computes.
pub fn auth_plugin(u: &mut Args) -> Result<Option<AuthPlugin>, ParseError> {
    u.opt_choice(
        "_auth_plugin",
        AuthPlugin::parse,
        "\"mysql_native_password\", \"caching_sha2_password\" or \"ed25519\"",
    )
}

/// `limit`, `marker`, `include_marker`.
pub fn page(args: &mut Args) -> Result<Page, ParseError> {
    Ok(Page {
        limit: args.opt_count("limit")?,
        marker: args.opt_string("marker")?,
        include_marker: args.flag("include_marker")?,
    })
}
