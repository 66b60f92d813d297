//! Result shapes several methods share: Trove's serialized users and
//! schemas, and its listings.

use serde_json::{Value, json};

use crate::model::{DbInfo, DbName, UserInfo};

/// `[[item...], next_marker]`, the shape of every Trove listing.
pub fn listing(items: Vec<Value>, next: Option<Value>) -> Value {
    Value::Array(vec![Value::Array(items), next.unwrap_or(Value::Null)])
}

/// Trove's serialized user, password always null.
pub fn user(u: &UserInfo) -> Value {
    json!({
        "_name": u.account.name.as_str(),
        "_host": u.account.host.as_str(),
        "_password": null,
        "_databases": u.databases.iter().map(db_ref).collect::<Vec<_>>(),
        "_is_root": u.is_root,
    })
}

/// A schema as listed: name, character set and collation filled in.
pub fn db(d: &DbInfo) -> Value {
    json!({
        "_name": d.name.as_str(),
        "_character_set": d.charset.as_str(),
        "_collate": d.collation.as_str(),
    })
}

/// A schema as it appears inside a user's `_databases`: name only, as Trove's
/// own agent reports it.
pub fn db_ref(d: &DbName) -> Value {
    json!({"_name": d.as_str(), "_character_set": null, "_collate": null})
}
