//! How a failure is reported and what the agent does about it, decided
//! once per error type.
//!
//! Every error the agent can meet implements [`Classify`]: its
//! [`WireClass`] is the exception class the control plane rebuilds from the
//! failure (trove-wire §3), its [`Disposition`] says whether the command is
//! retried, failed, or the agent must stop. The journal stores the class, so
//! a resent call is answered with the same exception.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The exception classes a failure can carry: Trove's
/// (`trove.common.exception`) and oslo's dispatcher errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireClass {
    /// Malformed or invalid input (HTTP 400).
    BadRequest,
    /// The account does not exist (HTTP 404).
    UserNotFound,
    /// The database does not exist (HTTP 404).
    DatabaseNotFound,
    /// The operation does not exist here (`DatastoreOperationNotSupported`).
    NotSupported,
    /// mysqld or the host failed (`GuestError`).
    GuestError,
    /// oslo's `NoSuchMethod`: the agent has no such method.
    NoSuchMethod,
    /// oslo's `UnsupportedVersion`: a major version other than 1.
    UnsupportedVersion,
}

const TROVE: &str = "trove.common.exception";
const OSLO_DISPATCHER: &str = "oslo_messaging.rpc.dispatcher";

impl WireClass {
    const ALL: [WireClass; 7] = [
        WireClass::BadRequest,
        WireClass::UserNotFound,
        WireClass::DatabaseNotFound,
        WireClass::NotSupported,
        WireClass::GuestError,
        WireClass::NoSuchMethod,
        WireClass::UnsupportedVersion,
    ];

    /// The Python class name.
    pub fn name(self) -> &'static str {
        match self {
            WireClass::BadRequest => "BadRequest",
            WireClass::UserNotFound => "UserNotFound",
            WireClass::DatabaseNotFound => "DatabaseNotFound",
            WireClass::NotSupported => "DatastoreOperationNotSupported",
            WireClass::GuestError => "GuestError",
            WireClass::NoSuchMethod => "NoSuchMethod",
            WireClass::UnsupportedVersion => "UnsupportedVersion",
        }
    }

    /// The Python module the class lives in.
    pub fn module(self) -> &'static str {
        match self {
            WireClass::NoSuchMethod | WireClass::UnsupportedVersion => OSLO_DISPATCHER,
            _ => TROVE,
        }
    }

    /// The class [`WireClass::name`] names; `GuestError` for anything else
    /// (a journal written by a version that knew another class).
    pub fn from_name(name: &str) -> WireClass {
        WireClass::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap_or(WireClass::GuestError)
    }
}

impl Serialize for WireClass {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for WireClass {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(WireClass::from_name(&name))
    }
}

/// What the agent does with a command that met an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Something outside went away (mysqld restarting, the broker): try
    /// again within the caller's patience; do not fail the command yet.
    Retry,
    /// The command cannot work as sent (bad input, a missing account):
    /// fail it, change nothing.
    Fail,
    /// The agent itself cannot go on (bad configuration): stop, saying why.
    Fatal,
}

/// An error that knows how it is reported and handled.
pub trait Classify {
    /// The exception class the control plane sees.
    fn wire_class(&self) -> WireClass;
    /// Retry, fail, or stop.
    fn disposition(&self) -> Disposition;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_guest_error() {
        for c in WireClass::ALL {
            assert_eq!(WireClass::from_name(c.name()), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<WireClass>(&json).unwrap(), c);
        }
        assert_eq!(WireClass::from_name("KeyError"), WireClass::GuestError);
        assert_eq!(WireClass::NoSuchMethod.module(), OSLO_DISPATCHER);
        assert_eq!(WireClass::UserNotFound.module(), TROVE);
    }
}
