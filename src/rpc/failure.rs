//! Failures as oslo.messaging sends them back to a caller.
//!
//! A failed call is answered with `"result": null` and `"failure"` holding a JSON
//! *string* (oslo's `serialize_remote_exception`), never encrypted:
//!
//! ```json
//! {"class": "UserNotFound", "module": "trove.common.exception",
//!  "message": "...", "tb": ["trove.common.exception.UserNotFound: ...\n"],
//!  "args": ["..."], "kwargs": {}}
//! ```
//!
//! The caller rebuilds `module.class(*args, **kwargs)` when the module is in its
//! allowed list (Trove allows `trove.common.exception`; oslo's own
//! `oslo_messaging.rpc.dispatcher` errors arrive as `RemoteError`), so `args` holds
//! just the message, which Trove's exceptions accept as their text. The caller
//! shows `message` followed by the `tb` lines to people; the Python agent puts its
//! whole stack there, this one only the final line a Python traceback ends with.

use std::fmt;

use serde_json::Value;

use super::pyjson;

const TROVE: &str = "trove.common.exception";
const OSLO_DISPATCHER: &str = "oslo_messaging.rpc.dispatcher";

/// An exception to report to the caller, named by a class the control plane knows.
///
/// The message is shown to API users: it must never hold a password or internals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    class: &'static str,
    module: &'static str,
    message: String,
}

impl Failure {
    fn trove(class: &'static str, message: impl Into<String>) -> Self {
        Self {
            class,
            module: TROVE,
            message: message.into(),
        }
    }

    /// `BadRequest`: malformed or invalid input (HTTP 400).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::trove("BadRequest", message)
    }

    /// `UserNotFound` (HTTP 404).
    pub fn user_not_found(message: impl Into<String>) -> Self {
        Self::trove("UserNotFound", message)
    }

    /// `DatabaseNotFound` (HTTP 404).
    pub fn database_not_found(message: impl Into<String>) -> Self {
        Self::trove("DatabaseNotFound", message)
    }

    /// `DatastoreOperationNotSupported`: the operation does not exist for this datastore.
    pub fn not_supported(message: impl Into<String>) -> Self {
        Self::trove("DatastoreOperationNotSupported", message)
    }

    /// `GuestError`: the database itself failed.
    pub fn guest_error(message: impl Into<String>) -> Self {
        Self::trove("GuestError", message)
    }

    /// `DatabaseForUserNotInDatabaseListError`.
    pub fn db_for_user_not_in_list(message: impl Into<String>) -> Self {
        Self::trove("DatabaseForUserNotInDatabaseListError", message)
    }

    /// oslo's `NoSuchMethod`, worded as oslo's dispatcher words it.
    pub fn no_such_method(method: &str) -> Self {
        Self {
            class: "NoSuchMethod",
            module: OSLO_DISPATCHER,
            message: format!("Endpoint does not support RPC method {method}"),
        }
    }

    /// oslo's `UnsupportedVersion`, worded as oslo's dispatcher words it.
    pub fn unsupported_version(version: &str) -> Self {
        Self {
            class: "UnsupportedVersion",
            module: OSLO_DISPATCHER,
            message: format!("Endpoint does not support RPC version {version}"),
        }
    }

    /// `UnsupportedVersion` naming the method, as oslo sends it when it knows one.
    pub(crate) fn unsupported_version_of(version: &str, method: &str) -> Self {
        let mut failure = Self::unsupported_version(version);
        failure.message = format!("{}. Attempted method: {method}", failure.message);
        failure
    }

    /// The exception class name, e.g. `UserNotFound`.
    pub fn class(&self) -> &str {
        self.class
    }

    /// The Python module the class lives in.
    pub fn module(&self) -> &str {
        self.module
    }

    /// The human-readable text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON text that goes into a reply's `failure` field.
    pub(crate) fn to_wire(&self) -> String {
        let message = Value::String(self.message.clone());
        let tb = Value::Array(vec![Value::String(format!(
            "{}.{}: {}\n",
            self.module, self.class, self.message
        ))]);
        let args = Value::Array(vec![message.clone()]);
        let kwargs = Value::Object(serde_json::Map::new());
        let mut out = String::new();
        pyjson::write_object(
            &mut out,
            [
                ("class", &Value::String(self.class.into())),
                ("module", &Value::String(self.module.into())),
                ("message", &message),
                ("tb", &tb),
                ("args", &args),
                ("kwargs", &kwargs),
            ],
        );
        out
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The failure the real oslo server sent for Trove's `UserNotFound`
    /// (testdata/capture_wire.py), minus the Python stack, which this agent
    /// replaces by the final line alone.
    #[test]
    fn wire_form_matches_oslo_serialize_remote_exception() {
        let captured: Value =
            serde_json::from_str(include_str!("testdata/wire_plaintext.json")).unwrap();
        let body = captured["messages"]["reply_list_access"]["body"]
            .as_str()
            .unwrap();
        let envelope: Value = serde_json::from_str(body).unwrap();
        let inner: Value =
            serde_json::from_str(envelope["oslo.message"].as_str().unwrap()).unwrap();
        let python: Value = serde_json::from_str(inner["failure"].as_str().unwrap()).unwrap();

        let ours = Failure::user_not_found("User bob@% cannot be found on the instance.");
        let wire = ours.to_wire();
        let parsed: Value = serde_json::from_str(&wire).unwrap();
        for key in ["class", "module", "message", "args", "kwargs"] {
            assert_eq!(parsed[key], python[key], "{key}");
        }
        let python_tb = python["tb"].as_array().unwrap();
        assert_eq!(parsed["tb"][0], *python_tb.last().unwrap());
        assert_eq!(parsed["tb"].as_array().unwrap().len(), 1);
        assert!(wire.starts_with(
            r#"{"class": "UserNotFound", "module": "trove.common.exception", "message": "#
        ));
    }

    #[test]
    fn oslo_dispatcher_failures_match_the_real_server() {
        let captured: Value =
            serde_json::from_str(include_str!("testdata/wire_plaintext.json")).unwrap();
        for (reply, ours) in [
            (
                "reply_no_such_thing",
                Failure::no_such_method("no_such_thing"),
            ),
            (
                "reply_get_user_v2_0",
                Failure::unsupported_version_of("2.0", "get_user"),
            ),
        ] {
            let body = captured["messages"][reply]["body"].as_str().unwrap();
            let envelope: Value = serde_json::from_str(body).unwrap();
            let inner: Value =
                serde_json::from_str(envelope["oslo.message"].as_str().unwrap()).unwrap();
            let python: Value = serde_json::from_str(inner["failure"].as_str().unwrap()).unwrap();
            let parsed: Value = serde_json::from_str(&ours.to_wire()).unwrap();
            for key in ["class", "module", "message", "args", "kwargs"] {
                assert_eq!(parsed[key], python[key], "{reply} {key}");
            }
            assert_eq!(
                parsed["tb"][0],
                *python["tb"].as_array().unwrap().last().unwrap()
            );
        }
    }

    #[test]
    fn constructors_pick_trove_classes() {
        for (failure, class) in [
            (Failure::bad_request("m"), "BadRequest"),
            (Failure::database_not_found("m"), "DatabaseNotFound"),
            (
                Failure::not_supported("m"),
                "DatastoreOperationNotSupported",
            ),
            (Failure::guest_error("m"), "GuestError"),
            (
                Failure::db_for_user_not_in_list("m"),
                "DatabaseForUserNotInDatabaseListError",
            ),
        ] {
            assert_eq!(failure.class(), class);
            assert_eq!(failure.module(), "trove.common.exception");
            assert_eq!(failure.message(), "m");
        }
        assert_eq!(Failure::bad_request("x").to_string(), "BadRequest: x");
    }
}
