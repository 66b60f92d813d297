//! The request context: who asked, under which request id, and the notification
//! to send back when a cast finishes.
//!
//! oslo flattens the context into the message as one `_context_<field>` key per
//! field (`_context_request_id`, `_context_roles`, `_context_trove_notification`,
//! ...). With Trove's encryption on, the whole context instead travels as one
//! blob in `_context_context` (see [`super::Crypto`]). Either way [`Context`]
//! holds the fields without the prefix, exactly as sent, so that it can be handed
//! back to the conductor unchanged (trove-wire §5).

use std::fmt;

use serde_json::{Map, Value};

/// The prefix oslo puts before every context field in a message.
pub(crate) const PREFIX: &str = "_context_";

/// A request context: the fields of Trove's `TroveContext.to_dict()`.
///
/// It carries the caller's `auth_token` (a Keystone credential), so `Debug`
/// prints only the request id and the field names.
#[derive(Clone, Default, PartialEq)]
pub struct Context(Map<String, Value>);

impl Context {
    /// A context with no fields, for messages the agent starts itself (heartbeats).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Wraps already unprefixed fields.
    pub fn from_map(fields: Map<String, Value>) -> Self {
        Self(fields)
    }

    /// The context as a JSON object without credentials (`auth_token` and
    /// anything named like a token, password or secret), safe to keep on disk.
    pub fn without_credentials(&self) -> Value {
        let credential = |k: &str| {
            ["token", "password", "secret", "credential"]
                .iter()
                .any(|w| {
                    k.as_bytes()
                        .windows(w.len())
                        .any(|win| win.eq_ignore_ascii_case(w.as_bytes()))
                })
        };
        Value::Object(
            self.0
                .iter()
                .filter(|(k, _)| !credential(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// One field, e.g. `"project_id"`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// `request_id`, when it is a string.
    pub fn request_id(&self) -> Option<&str> {
        self.get("request_id").and_then(Value::as_str)
    }

    /// Who made the request: oslo.context's `user_name`, else `user`, else
    /// `user_id` (Trove's API fills all three), bounded for the journal.
    pub fn user(&self) -> Option<String> {
        ["user_name", "user", "user_id"]
            .iter()
            .find_map(|k| {
                self.get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            })
            .map(|s| s.chars().filter(|c| !c.is_control()).take(255).collect())
    }

    /// `trove_notification`: the serialized notification the conductor needs for
    /// `notify_end` / `notify_exc_info`; absent when the caller is not Trove's API.
    pub fn trove_notification(&self) -> Option<&Value> {
        self.get("trove_notification").filter(|v| !v.is_null())
    }

    /// All fields.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// All fields, by value.
    #[cfg(any(test, feature = "testkit"))]
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// Whether there are no fields.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes the `_context_*` members out of an inner message (the decoder's
    /// own copy, which is dropped after).
    pub(crate) fn take_prefixed(message: &mut Map<String, Value>) -> Self {
        // Keys come sorted, and stripping a common prefix keeps them so:
        // both maps are rebuilt in bulk, nothing is copied.
        let (fields, rest): (Vec<_>, Vec<_>) = std::mem::take(message)
            .into_iter()
            .partition(|(k, _)| k.starts_with(PREFIX));
        *message = rest.into_iter().collect();
        Self(
            fields
                .into_iter()
                .map(|(mut k, v)| {
                    k.drain(..PREFIX.len());
                    (k, v)
                })
                .collect(),
        )
    }

    /// Collects the `_context_*` members of an inner message.
    pub(crate) fn from_prefixed(message: &Map<String, Value>) -> Self {
        Self(
            message
                .iter()
                .filter_map(|(key, value)| {
                    key.strip_prefix(PREFIX)
                        .map(|field| (field.to_owned(), value.clone()))
                })
                .collect(),
        )
    }
}

impl From<Map<String, Value>> for Context {
    fn from(fields: Map<String, Value>) -> Self {
        Self(fields)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("request_id", &self.request_id())
            .field("fields", &self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn collects_prefixed_fields_only() {
        let message = map(json!({
            "method": "get_user",
            "_context_request_id": "req-1",
            "_context_roles": ["admin"],
            "_context_trove_notification": {"server_type": "guest"},
            "_unique_id": "abc",
        }));
        let ctx = Context::from_prefixed(&message);
        assert_eq!(ctx.request_id(), Some("req-1"));
        assert_eq!(ctx.get("roles"), Some(&json!(["admin"])));
        assert_eq!(
            ctx.trove_notification(),
            Some(&json!({"server_type": "guest"}))
        );
        assert_eq!(ctx.as_map().len(), 3);
        assert!(ctx.get("method").is_none());
    }

    #[test]
    fn null_notification_is_no_notification() {
        let ctx = Context::from_map(map(json!({"trove_notification": null})));
        assert!(ctx.trove_notification().is_none());
        assert!(Context::empty().is_empty());
        assert!(Context::empty().request_id().is_none());
    }

    #[test]
    fn credentials_are_not_kept() {
        let ctx = Context::from_map(map(json!({
            "auth_token": "gAAAAABkeystone-token",
            "auth_token_info": {"x": 1},
            "request_id": "req-9",
            "trove_notification": {"server_type": "guest"},
        })));
        let kept = ctx.without_credentials();
        assert!(!kept.to_string().contains("keystone-token"), "{kept}");
        assert!(kept.get("auth_token_info").is_none());
        assert_eq!(kept["request_id"], "req-9");
        assert_eq!(kept["trove_notification"]["server_type"], "guest");
    }

    #[test]
    fn debug_hides_values() {
        let ctx = Context::from_map(map(json!({
            "auth_token": "gAAAAABkeystone-token",
            "request_id": "req-9",
        })));
        let shown = format!("{ctx:?}");
        assert!(!shown.contains("keystone-token"), "{shown}");
        assert!(
            shown.contains("req-9") && shown.contains("auth_token"),
            "{shown}"
        );
    }
}
