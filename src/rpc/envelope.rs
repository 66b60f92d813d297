//! The oslo.messaging 2.0 envelope around every body (trove-wire §2):
//!
//! ```json
//! {"oslo.version": "2.0", "oslo.message": "<the inner message as a JSON string>"}
//! ```
//!
//! oslo (`_drivers/common.py`, `serialize_msg` / `deserialize_msg`) also passes
//! through bodies without the two keys as pre-2012 "1.0" messages; every Trove
//! peer sends the envelope, so here such a body is an error.

use serde_json::{Map, Value};

use super::{RpcError, pyjson};

const VERSION_KEY: &str = "oslo.version";
const MESSAGE_KEY: &str = "oslo.message";
const VERSION: &str = "2.0";

/// Checks the size, unwraps the envelope and parses the inner message object.
pub(crate) fn open(body: &[u8], max_bytes: usize) -> Result<Map<String, Value>, RpcError> {
    if body.len() > max_bytes {
        return Err(RpcError::TooLarge {
            size: body.len(),
            limit: max_bytes,
        });
    }
    let outer: Value = serde_json::from_slice(body).map_err(RpcError::Json)?;
    let Value::Object(mut outer) = outer else {
        return Err(RpcError::NotEnvelope);
    };
    let (Some(version), Some(message)) = (outer.remove(VERSION_KEY), outer.remove(MESSAGE_KEY))
    else {
        return Err(RpcError::NotEnvelope);
    };
    if version.as_str() != Some(VERSION) {
        return Err(RpcError::OsloVersion(version.to_string()));
    }
    let Value::String(message) = message else {
        return Err(RpcError::BadField {
            field: MESSAGE_KEY,
            expected: "a string holding JSON",
        });
    };
    // The inner text carries any password in the clear (without RPC
    // encryption); wipe it once parsed.
    let message = zeroize::Zeroizing::new(message);
    match serde_json::from_str(message.as_str()).map_err(RpcError::Json)? {
        Value::Object(inner) => Ok(inner),
        _ => Err(RpcError::BadField {
            field: MESSAGE_KEY,
            expected: "a JSON object",
        }),
    }
}

/// Wraps an inner message, already JSON text, into the body bytes.
pub(crate) fn seal(inner: &str) -> Vec<u8> {
    let mut out = String::with_capacity(inner.len() + inner.len() / 8 + 48);
    out.push('{');
    pyjson::write_str(&mut out, VERSION_KEY);
    out.push_str(": ");
    pyjson::write_str(&mut out, VERSION);
    out.push_str(", ");
    pyjson::write_str(&mut out, MESSAGE_KEY);
    out.push_str(": ");
    pyjson::write_str(&mut out, inner);
    out.push('}');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    #[test]
    fn opens_what_it_seals() {
        let inner = r#"{"method": "rpc_ping", "args": {}}"#;
        let sealed = seal(inner);
        assert_eq!(
            String::from_utf8(sealed.clone()).unwrap(),
            r#"{"oslo.version": "2.0", "oslo.message": "{\"method\": \"rpc_ping\", \"args\": {}}"}"#
        );
        let opened = open(&sealed, 1024).unwrap();
        assert_eq!(
            Value::Object(opened),
            json!({"method": "rpc_ping", "args": {}})
        );
    }

    #[test]
    fn oversize_is_refused_before_parsing() {
        // Not even JSON: the size alone decides.
        let err = open(&[b'x'; 101], 100).unwrap_err();
        assert!(
            matches!(
                err,
                RpcError::TooLarge {
                    size: 101,
                    limit: 100
                }
            ),
            "{err}"
        );
        let exact = seal("{}");
        assert!(open(&exact, exact.len()).is_ok());
        assert!(matches!(
            open(&exact, exact.len() - 1),
            Err(RpcError::TooLarge { .. })
        ));
    }

    #[test]
    fn rejects_what_is_not_an_envelope() {
        assert!(matches!(open(b"{not json", 1024), Err(RpcError::Json(_))));
        assert!(matches!(open(b"[1, 2]", 1024), Err(RpcError::NotEnvelope)));
        let unwrapped = body(json!({"method": "get_user", "args": {}}));
        assert!(matches!(open(&unwrapped, 1024), Err(RpcError::NotEnvelope)));
        let half = body(json!({"oslo.version": "2.0"}));
        assert!(matches!(open(&half, 1024), Err(RpcError::NotEnvelope)));
    }

    #[test]
    fn oslo_version_must_be_2_0() {
        for version in [
            json!("1.0"),
            json!("3.0"),
            json!(2.0),
            json!(null),
            json!("2"),
        ] {
            let b = body(json!({"oslo.version": version, "oslo.message": "{}"}));
            match open(&b, 1024) {
                Err(RpcError::OsloVersion(v)) => assert_eq!(v, version.to_string()),
                other => panic!("{version}: {other:?}"),
            }
        }
    }

    #[test]
    fn oslo_message_must_be_a_string_holding_an_object() {
        let object = body(json!({"oslo.version": "2.0", "oslo.message": {"method": "x"}}));
        assert!(matches!(
            open(&object, 1024),
            Err(RpcError::BadField {
                field: "oslo.message",
                expected: "a string holding JSON"
            })
        ));
        let list = body(json!({"oslo.version": "2.0", "oslo.message": "[1]"}));
        assert!(matches!(
            open(&list, 1024),
            Err(RpcError::BadField {
                field: "oslo.message",
                expected: "a JSON object"
            })
        ));
        let garbage = body(json!({"oslo.version": "2.0", "oslo.message": "{nope"}));
        assert!(matches!(open(&garbage, 1024), Err(RpcError::Json(_))));
    }
}
