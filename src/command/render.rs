//! Result shapes several methods share: Trove's serialized users and
//! schemas, and its listings.
//!
//! Users and the schemas inside them are written by their `Serialize`
//! impls straight into the reply (see [`Answer`]); the rest are small and
//! built as `Value`s.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Value, json};

use crate::model::{DbInfo, DbName, UserInfo};

/// What a read answers.
///
/// A listing of 1,000 accounts built as a `Value` tree took about 1 KB per
/// account (a map node, eleven key strings) on top of the rows it came
/// from and the text it went to, the largest thing the agent held; kept as
/// the typed rows, it is serialized straight into the reply's text.
#[derive(Debug)]
pub enum Answer {
    /// A value built by the method.
    Value(Value),
    /// A user, or `null` when absent.
    User(Option<UserInfo>),
    /// Trove's listing of users: `[[user...], next_marker]`.
    Users(Vec<UserInfo>, Option<String>),
    /// A user's schemas as Trove lists them (`list_access`).
    DbRefs(Vec<DbName>),
}

impl From<Value> for Answer {
    fn from(v: Value) -> Self {
        Answer::Value(v)
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Answer::Value(v) => v.serialize(s),
            Answer::User(u) => u.as_ref().map(UserDict).serialize(s),
            Answer::Users(users, next) => {
                let mut listing = s.serialize_seq(Some(2))?;
                listing.serialize_element(&Items(users, UserDict))?;
                listing.serialize_element(next)?;
                listing.end()
            }
            Answer::DbRefs(dbs) => Items(dbs, DbRef).serialize(s),
        }
    }
}

/// `[[item...], next_marker]`, the shape of every Trove listing.
pub fn listing(items: Vec<Value>, next: Option<Value>) -> Value {
    Value::Array(vec![Value::Array(items), next.unwrap_or(Value::Null)])
}

/// A slice serialized as an array, each item through a wrapper.
struct Items<'a, T, W>(&'a [T], fn(&'a T) -> W);

impl<'a, T, W: Serialize> Serialize for Items<'a, T, W> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&(self.1)(item))?;
        }
        seq.end()
    }
}

/// Trove's serialized user, password always null, with the account's
/// attributes as mysqld holds them (`_require`, `_max_connections`,
/// `_max_queries_per_hour`, `_locked`, `_password_expire_days`,
/// `_auth_plugin`: keys Trove's own models ignore).
struct UserDict<'a>(&'a UserInfo);

impl Serialize for UserDict<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.0;
        let mut m = s.serialize_map(Some(11))?;
        m.serialize_entry("_name", u.account.name.as_str())?;
        m.serialize_entry("_host", u.account.host.as_str())?;
        m.serialize_entry("_password", &())?;
        m.serialize_entry("_databases", &Items(&u.databases, DbRef))?;
        m.serialize_entry("_is_root", &u.is_root)?;
        for (key, value) in u.view.fields() {
            m.serialize_entry(key, &value)?;
        }
        m.end()
    }
}

/// A schema as it appears inside a user's `_databases`: name only, as
/// Trove's own agent reports it.
struct DbRef<'a>(&'a DbName);

impl Serialize for DbRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("_name", self.0.as_str())?;
        m.serialize_entry("_character_set", &())?;
        m.serialize_entry("_collate", &())?;
        m.end()
    }
}

/// A schema as listed: name, character set and collation filled in.
pub fn db(d: &DbInfo) -> Value {
    json!({
        "_name": d.name.as_str(),
        "_character_set": d.charset.as_str(),
        "_collate": d.collation.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Account, AccountView, HostPattern, UserName};

    fn app() -> UserInfo {
        UserInfo {
            account: Account {
                name: UserName::parse("app").unwrap(),
                host: HostPattern::parse("10.0.0.%").unwrap(),
            },
            databases: vec![DbName::parse("shop").unwrap()],
            is_root: false,
            view: AccountView {
                require: "ssl",
                max_connections: 5,
                max_queries_per_hour: 0,
                locked: true,
                password_expire_days: Some(30),
                plugin: "ed25519".into(),
            },
        }
    }

    #[test]
    fn answers_serialize_as_trove_shapes() {
        let user = json!({
            "_name": "app", "_host": "10.0.0.%", "_password": null,
            "_databases": [{"_name": "shop", "_character_set": null, "_collate": null}],
            "_is_root": false, "_require": "ssl", "_max_connections": 5,
            "_max_queries_per_hour": 0, "_locked": true, "_password_expire_days": 30,
            "_auth_plugin": "ed25519",
        });
        let listing = Answer::Users(vec![app()], Some("app@10.0.0.%".into()));
        assert_eq!(
            serde_json::to_value(&listing).unwrap(),
            json!([[user.clone()], "app@10.0.0.%"])
        );
        let last = Answer::Users(Vec::new(), None);
        assert_eq!(serde_json::to_value(&last).unwrap(), json!([[], null]));
        assert_eq!(
            serde_json::to_value(Answer::User(Some(app()))).unwrap(),
            user
        );
        assert_eq!(
            serde_json::to_value(Answer::User(None)).unwrap(),
            Value::Null
        );
        let dbs = Answer::DbRefs(vec![DbName::parse("a").unwrap()]);
        assert_eq!(
            serde_json::to_value(&dbs).unwrap(),
            json!([{"_name": "a", "_character_set": null, "_collate": null}])
        );
    }
}
