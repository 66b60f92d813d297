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
use crate::model::{Classify, WireClass};

/// An exception to report to the caller, named by a class the control plane knows.
///
/// The message is shown to API users: it must never hold a password or internals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    class: WireClass,
    message: String,
}

impl Failure {
    /// A failure of `class` saying `message`.
    pub fn new(class: WireClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }

    /// The failure an error reports: its own class, its own text.
    pub fn of<E: Classify + fmt::Display>(error: &E) -> Self {
        Self::new(error.wire_class(), error.to_string())
    }

    /// `BadRequest`: malformed or invalid input (HTTP 400).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(WireClass::BadRequest, message)
    }

    /// oslo's `UnsupportedVersion`, worded as oslo's dispatcher words it.
    pub fn unsupported_version(version: &str) -> Self {
        Self::new(
            WireClass::UnsupportedVersion,
            format!("Endpoint does not support RPC version {version}"),
        )
    }

    /// `UnsupportedVersion` naming the method, as oslo sends it when it knows one.
    pub(crate) fn unsupported_version_of(version: &str, method: &str) -> Self {
        let mut failure = Self::unsupported_version(version);
        failure.message = format!("{}. Attempted method: {method}", failure.message);
        failure
    }

    /// The exception class.
    pub fn class(&self) -> WireClass {
        self.class
    }

    /// The human-readable text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The last line of the Python traceback this failure stands for:
    /// `module.Class: message` and a newline.
    pub fn traceback_line(&self) -> String {
        format!(
            "{}.{}: {}\n",
            self.class.module(),
            self.class.name(),
            self.message
        )
    }

    /// The JSON text that goes into a reply's `failure` field.
    pub(crate) fn to_wire(&self) -> String {
        let message = Value::String(self.message.clone());
        let tb = Value::Array(vec![Value::String(self.traceback_line())]);
        let args = Value::Array(vec![message.clone()]);
        let kwargs = Value::Object(serde_json::Map::new());
        let mut out = String::new();
        pyjson::write_object(
            &mut out,
            [
                ("class", &Value::String(self.class.name().into())),
                ("module", &Value::String(self.class.module().into())),
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
        write!(f, "{}: {}", self.class.name(), self.message)
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

        let ours = Failure::new(
            WireClass::UserNotFound,
            "User bob@% cannot be found on the instance.",
        );
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
                Failure::new(
                    WireClass::NoSuchMethod,
                    "Endpoint does not support RPC method no_such_thing",
                ),
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
    fn classes_name_their_modules() {
        for (class, name) in [
            (WireClass::BadRequest, "BadRequest"),
            (WireClass::DatabaseNotFound, "DatabaseNotFound"),
            (WireClass::NotSupported, "DatastoreOperationNotSupported"),
            (WireClass::GuestError, "GuestError"),
        ] {
            let failure = Failure::new(class, "m");
            let wire: Value = serde_json::from_str(&failure.to_wire()).unwrap();
            assert_eq!(wire["class"], name);
            assert_eq!(wire["module"], "trove.common.exception");
            assert_eq!(failure.message(), "m");
        }
        assert_eq!(Failure::bad_request("x").to_string(), "BadRequest: x");
    }
}
