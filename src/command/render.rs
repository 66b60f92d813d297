//! Result shapes several methods share: Trove's serialized users and
//! schemas, and its listings.

use serde_json::{Map, Value, json};

use crate::model::{DbInfo, DbName, UserInfo};

/// `[[item...], next_marker]`, the shape of every Trove listing.
pub fn listing(items: Vec<Value>, next: Option<Value>) -> Value {
    Value::Array(vec![Value::Array(items), next.unwrap_or(Value::Null)])
}

/// Trove's serialized user, password always null, with the account's
/// attributes as mysqld holds them (`_require`, `_max_connections`,
/// `_max_queries_per_hour`, `_locked`, `_password_expire_days`,
/// `_auth_plugin`: keys Trove's own models ignore).
pub fn user(u: &UserInfo) -> Value {
    let mut m = Map::new();
    m.insert("_name".into(), json!(u.account.name.as_str()));
    m.insert("_host".into(), json!(u.account.host.as_str()));
    m.insert("_password".into(), Value::Null);
    m.insert(
        "_databases".into(),
        Value::Array(u.databases.iter().map(db_ref).collect()),
    );
    m.insert("_is_root".into(), json!(u.is_root));
    u.view.extend(&mut m);
    Value::Object(m)
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
