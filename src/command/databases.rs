//! Database arguments (Trove's serialized `MySQLSchema`) and result shapes.

use serde_json::{Value, json};

use super::args::{Args, into_object};
use super::names::{Charset, DbName};
use super::{Limits, ParseError};
use crate::mysql::Protected;
use crate::mysql::databases::{DbInfo, NewDatabase};

/// `create_database(databases)`: every schema checked before any is created.
pub fn parse_create(
    args: &mut Args,
    protected: &Protected,
    limits: Limits,
) -> Result<Vec<NewDatabase>, ParseError> {
    let list = args.list("databases", limits.max_items)?;
    let mut out: Vec<NewDatabase> = Vec::with_capacity(list.len());
    for item in list {
        let mut d = into_object("databases", item)?;
        let name = parse_name(&mut d, "_name", protected)?;
        let charset = d
            .opt_string("_character_set")?
            .map(|s| Charset::parse("character set", &s))
            .transpose()?;
        let collation = d
            .opt_string("_collate")?
            .map(|s| Charset::parse("collation", &s))
            .transpose()?;
        if out.iter().any(|o| o.name == name) {
            return Err(ParseError::Duplicate(name.to_string()));
        }
        out.push(NewDatabase {
            name,
            charset,
            collation,
        });
    }
    Ok(out)
}

/// A database name under `key` of a serialized schema, refused when it is a
/// system schema.
pub fn parse_name(
    d: &mut Args,
    key: &'static str,
    protected: &Protected,
) -> Result<DbName, ParseError> {
    checked(&d.string(key)?, protected)
}

/// A database reference in a user's `_databases`: a serialized schema or a
/// bare name.
pub fn parse_db_ref(v: Value, protected: &Protected) -> Result<DbName, ParseError> {
    match v {
        Value::String(s) => checked(&s, protected),
        obj @ Value::Object(_) => {
            parse_name(&mut into_object("_databases", obj)?, "_name", protected)
        }
        _ => Err(ParseError::Type {
            arg: "_databases",
            expected: "a list of databases",
        }),
    }
}

/// A database to grant on: a [`parse_db_ref`] whose name, with `_` and `%`
/// escaped as `GRANT` needs them, still fits mysqld's 64 characters. A
/// longer pattern is refused by MariaDB 10.11 and cut short (a grant on
/// another schema) by older servers.
pub fn parse_grant_target(v: Value, protected: &Protected) -> Result<DbName, ParseError> {
    let db = parse_db_ref(v, protected)?;
    let escaped = crate::mysql::quote::escape_schema_pattern(db.as_str())
        .chars()
        .count();
    if escaped > super::names::MAX_DB_NAME {
        return Err(ParseError::Ungrantable(db.to_string()));
    }
    Ok(db)
}

fn checked(name: &str, protected: &Protected) -> Result<DbName, ParseError> {
    let db = DbName::parse(name)?;
    if protected.is_system_db(db.as_str()) {
        return Err(ParseError::SystemDatabase(db.to_string()));
    }
    Ok(db)
}

/// A schema as listed: name, character set and collation filled in.
pub fn db_json(d: &DbInfo) -> Value {
    json!({
        "_name": d.name.as_str(),
        "_character_set": d.charset.as_str(),
        "_collate": d.collation.as_str(),
    })
}

/// A schema as it appears inside a user's `_databases`: name only, as Trove's
/// own agent reports it.
pub fn db_ref_json(d: &DbName) -> Value {
    json!({"_name": d.as_str(), "_character_set": null, "_collate": null})
}
