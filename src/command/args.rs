//! Pulling typed values out of a request's keyword arguments.
//!
//! Arguments are taken *by value* out of the map, so a password moves from
//! the decoded JSON into a `SecretString` without a copy left behind.

use serde_json::{Map, Value};

use super::ParseError;

/// The keyword arguments of one request, consumed as they are read.
#[derive(Debug)]
pub struct Args {
    map: Map<String, Value>,
}

impl Args {
    /// Wraps a request's arguments.
    pub fn new(map: Map<String, Value>) -> Self {
        Args { map }
    }

    /// Takes a required argument that must not be null.
    pub fn required(&mut self, key: &'static str) -> Result<Value, ParseError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Err(ParseError::Missing(key)),
            Some(v) => Ok(v),
        }
    }

    /// Takes an optional argument; null counts as absent.
    pub fn optional(&mut self, key: &'static str) -> Option<Value> {
        match self.map.remove(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// A required string argument.
    pub fn string(&mut self, key: &'static str) -> Result<String, ParseError> {
        into_string(key, self.required(key)?)
    }

    /// An optional string argument.
    pub fn opt_string(&mut self, key: &'static str) -> Result<Option<String>, ParseError> {
        self.optional(key).map(|v| into_string(key, v)).transpose()
    }

    /// An optional string argument naming one of a fixed set of values
    /// (`None` when absent or null); any other string, or another type, is
    /// refused as not `expected`.
    pub fn opt_choice<T>(
        &mut self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
        expected: &'static str,
    ) -> Result<Option<T>, ParseError> {
        match self.opt_string(key)? {
            None => Ok(None),
            Some(s) => parse(&s)
                .map(Some)
                .ok_or(ParseError::Type { arg: key, expected }),
        }
    }

    /// A string argument that must be present but may be null: a keyword
    /// argument without a default in Trove's method signature.
    pub fn nullable_string(&mut self, key: &'static str) -> Result<Option<String>, ParseError> {
        match self.map.remove(key) {
            None => Err(ParseError::Missing(key)),
            Some(Value::Null) => Ok(None),
            Some(v) => into_string(key, v).map(Some),
        }
    }

    /// An optional boolean argument, `false` when absent.
    pub fn flag(&mut self, key: &'static str) -> Result<bool, ParseError> {
        match self.optional(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(b),
            Some(_) => Err(ParseError::Type {
                arg: key,
                expected: "a boolean",
            }),
        }
    }

    /// An optional boolean argument (`None` when absent or null).
    pub fn opt_bool(&mut self, key: &'static str) -> Result<Option<bool>, ParseError> {
        match self.optional(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(ParseError::Type {
                arg: key,
                expected: "true or false",
            }),
        }
    }

    /// An optional whole number from 0 to `max` (`None` when absent or
    /// null). A float, a string or a negative number is refused, never
    /// rounded or clamped.
    pub fn opt_uint(
        &mut self,
        key: &'static str,
        max: u64,
        expected: &'static str,
    ) -> Result<Option<u64>, ParseError> {
        match self.optional(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if v <= max => Ok(Some(v)),
                _ => Err(ParseError::Type { arg: key, expected }),
            },
            Some(_) => Err(ParseError::Type { arg: key, expected }),
        }
    }

    /// A required positive integer argument.
    pub fn count(&mut self, key: &'static str) -> Result<u64, ParseError> {
        match self.opt_count(key)? {
            Some(n) => Ok(n as u64),
            None => Err(ParseError::Missing(key)),
        }
    }

    /// An optional positive integer argument.
    pub fn opt_count(&mut self, key: &'static str) -> Result<Option<usize>, ParseError> {
        match self.optional(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if v >= 1 => Ok(Some(usize::try_from(v).unwrap_or(usize::MAX))),
                _ => Err(ParseError::Type {
                    arg: key,
                    expected: "a positive integer",
                }),
            },
            Some(_) => Err(ParseError::Type {
                arg: key,
                expected: "a positive integer",
            }),
        }
    }

    /// A required list argument, at most `max` long and not empty.
    pub fn list(&mut self, key: &'static str, max: usize) -> Result<Vec<Value>, ParseError> {
        match self.required(key)? {
            Value::Array(v) if v.is_empty() => Err(ParseError::Empty(key)),
            Value::Array(v) if v.len() > max => Err(ParseError::TooMany {
                arg: key,
                limit: max,
            }),
            Value::Array(v) => Ok(v),
            _ => Err(ParseError::Type {
                arg: key,
                expected: "a list",
            }),
        }
    }

    /// A required object argument (a serialized Trove model).
    pub fn object(&mut self, key: &'static str) -> Result<Args, ParseError> {
        into_object(key, self.required(key)?)
    }
}

/// A string value, or a type error naming the argument.
pub fn into_string(key: &'static str, v: Value) -> Result<String, ParseError> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(ParseError::Type {
            arg: key,
            expected: "a string",
        }),
    }
}

/// An object value as [`Args`], or a type error naming the argument.
pub fn into_object(key: &'static str, v: Value) -> Result<Args, ParseError> {
    match v {
        Value::Object(m) => Ok(Args::new(m)),
        _ => Err(ParseError::Type {
            arg: key,
            expected: "an object",
        }),
    }
}
