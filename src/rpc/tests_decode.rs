//! [`Codec::decode_request`] on hand-made messages: every way a request can be
//! malformed. Compatibility with the real Python peers is proven separately, on
//! captured bytes, in `tests_wire.rs`.

use secrecy::SecretString;
use serde_json::{Map, Value, json};

use super::call::ReplyQueue;
use super::*;

pub(super) const KEY: &str = "the-instance-key";
pub(super) const GUEST: &str = "11111111-2222-4333-8444-555555555555";
pub(super) const LIMIT: usize = 64 * 1024;

pub(super) fn crypto(key: &str) -> Crypto {
    Crypto::new(&SecretString::from(key.to_owned()))
}

pub(super) fn plain_codec() -> Codec {
    Codec::new(None, false, LIMIT, GUEST.into())
}

pub(super) fn keyed_codec(key: &str, allow_plaintext: bool) -> Codec {
    Codec::new(Some(crypto(key)), allow_plaintext, LIMIT, GUEST.into())
}

pub(super) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// An enveloped body around `inner`.
fn body(inner: &Value) -> Vec<u8> {
    json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
        .to_string()
        .into_bytes()
}

fn call_message(method: &str, args: Value) -> Value {
    json!({
        "method": method, "args": args, "version": "1.0",
        "_msg_id": "m1", "_reply_q": "reply_q1", "_timeout": null, "_unique_id": "u1",
        "_context_request_id": "req-1", "_context_auth_token": "tok",
    })
}

/// Encrypts args and context the way Trove's SecureSerializer lays them out.
fn encrypted(mut message: Value, key: &str) -> Value {
    let c = crypto(key);
    let m = message.as_object_mut().unwrap();
    let args = m["args"].as_object().unwrap().clone();
    let sealed: Map<String, Value> = args
        .into_iter()
        .map(|(k, v)| (k, Value::String(c.encrypt(v.to_string().as_bytes()))))
        .collect();
    m.insert("args".into(), Value::Object(sealed));
    let context = Context::from_prefixed(m);
    m.retain(|k, _| !k.starts_with("_context_"));
    let text = Value::Object(context.into_map()).to_string();
    m.insert(
        "_context_context".into(),
        Value::String(c.encrypt(text.as_bytes())),
    );
    message
}

fn decode_err(codec: &Codec, inner: &Value) -> DecodeError {
    codec.decode_request(&body(inner)).unwrap_err()
}

fn expected_call() -> Option<Call> {
    Some(Call {
        msg_id: WireId::parse("m1").unwrap(),
        reply_q: ReplyQueue::parse("reply_q1").unwrap(),
        timeout: None,
    })
}

#[test]
fn decodes_a_plaintext_call() {
    let req = plain_codec()
        .decode_request(&body(&call_message(
            "get_user",
            json!({"username": "u", "hostname": "%"}),
        )))
        .unwrap();
    assert_eq!(req.method, "get_user");
    assert_eq!(
        Value::Object(req.args),
        json!({"username": "u", "hostname": "%"})
    );
    assert_eq!(req.version.as_deref(), Some("1.0"));
    assert_eq!(req.unique_id.as_deref(), Some("u1"));
    assert_eq!(req.call, expected_call());
    assert_eq!(req.context.request_id(), Some("req-1"));
    assert_eq!(req.context.get("auth_token"), Some(&json!("tok")));
}

#[test]
fn a_message_without_msg_id_is_a_cast() {
    let inner = json!({"method": "create_database", "args": {"databases": []}, "_unique_id": "u"});
    let req = plain_codec().decode_request(&body(&inner)).unwrap();
    assert!(req.call.is_none());
    assert!(req.version.is_none());
    assert!(req.context.is_empty());
    let empty_id = json!({"method": "x", "_msg_id": "", "_reply_q": "q"});
    assert!(
        plain_codec()
            .decode_request(&body(&empty_id))
            .unwrap()
            .call
            .is_none()
    );
}

#[test]
fn encrypted_round_trip() {
    let args = json!({"users": [{"_name": "u", "_password": "pw"}], "n": null});
    let codec = keyed_codec(KEY, false);
    let req = codec
        .decode_request(&body(&encrypted(
            call_message("create_user", args.clone()),
            KEY,
        )))
        .unwrap();
    assert_eq!(Value::Object(req.args), args);
    assert_eq!(req.context.request_id(), Some("req-1"));
    assert_eq!(req.call, expected_call());
}

#[test]
fn wrong_key_is_refused_and_keeps_call_info() {
    let message = encrypted(call_message("get_user", json!({"username": "u"})), KEY);
    let err = decode_err(&keyed_codec("another-key", false), &message);
    assert!(
        matches!(&err.error, RpcError::Undecryptable { what, .. } if what == "the context"),
        "{err}"
    );
    assert!(err.error.is_silent(), "an undecryptable call gets no reply");
    assert_eq!(err.call, expected_call());
    assert_eq!(err.method.as_deref(), Some("get_user"));
    assert_eq!(err.unique_id.as_deref(), Some("u1"));
}

#[test]
fn wrong_key_with_plaintext_allowed_behaves_like_trove() {
    let message = encrypted(call_message("get_user", json!({"username": "u"})), KEY);
    let blob = message["args"]["username"].clone();
    let req = keyed_codec("another-key", true)
        .decode_request(&body(&message))
        .unwrap();
    // Trove hands an undecryptable value on unchanged; so does plaintext mode.
    assert_eq!(req.args["username"], blob);
}

#[test]
fn plaintext_under_a_key_is_refused_unless_allowed() {
    let message = call_message("get_user", json!({"username": "alice"}));
    let err = decode_err(&keyed_codec(KEY, false), &message);
    assert!(
        matches!(&err.error, RpcError::Undecryptable { what, reason: "not encrypted: absent or null" } if what == "the context"),
        "{err}"
    );
    assert_eq!(err.call, expected_call());

    let mut with_ctx = encrypted(message.clone(), KEY);
    with_ctx["args"] = json!({"username": "alice", "limit": 5});
    let err = decode_err(&keyed_codec(KEY, false), &with_ctx);
    // Arguments are checked in name order: `limit` (not a string) comes first.
    assert!(
        matches!(&err.error, RpcError::Undecryptable { what, reason: "not encrypted" } if what == "argument \"limit\""),
        "{err}"
    );
    with_ctx["args"] = json!({"username": "alice"});
    let err = decode_err(&keyed_codec(KEY, false), &with_ctx);
    assert!(
        matches!(&err.error, RpcError::Undecryptable { what, reason: "not base64" } if what == "argument \"username\""),
        "{err}"
    );

    let req = keyed_codec(KEY, true)
        .decode_request(&body(&message))
        .unwrap();
    assert_eq!(req.args["username"], json!("alice"));
    assert_eq!(req.context.request_id(), Some("req-1"));
}

fn decrypt_reason(blob: String) -> &'static str {
    let mut message = encrypted(call_message("get_user", json!({})), KEY);
    message["args"] = json!({"username": blob});
    match decode_err(&keyed_codec(KEY, false), &message).error {
        RpcError::Undecryptable { what, reason } => {
            assert_eq!(what, "argument \"username\"");
            reason
        }
        other => panic!("{other}"),
    }
}

#[test]
fn truncated_misaligned_and_non_base64_blobs() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let good = b64
        .decode(crypto(KEY).encrypt(b"\"some user name here\""))
        .unwrap();
    assert_eq!(
        decrypt_reason(b64.encode(&good[..12])),
        "shorter than its IV"
    );
    assert_eq!(
        decrypt_reason(b64.encode(&good[..16])),
        "no ciphertext after the IV"
    );
    assert_eq!(
        decrypt_reason(b64.encode(&good[..good.len() - 16])),
        "bad padding"
    );
    assert_eq!(
        decrypt_reason(b64.encode(&good[..good.len() - 5])),
        "ciphertext is not a multiple of 16 bytes"
    );
    assert_eq!(decrypt_reason("%%%not-base64%%%".into()), "not base64");
    assert_eq!(
        decrypt_reason(crypto(KEY).encrypt(b"not json")),
        "decrypted text is not JSON"
    );
}

#[test]
fn oversize_body_is_refused_unparsed() {
    let codec = Codec::new(None, false, 16, GUEST.into());
    let err = codec
        .decode_request(&body(&call_message("rpc_ping", json!({}))))
        .unwrap_err();
    assert!(matches!(err.error, RpcError::TooLarge { limit: 16, .. }));
    assert!(err.call.is_none() && err.method.is_none());
    let err = codec.decode_request(&[b'{'; 17]).unwrap_err();
    assert!(matches!(
        err.error,
        RpcError::TooLarge {
            size: 17,
            limit: 16
        }
    ));
}

#[test]
fn non_object_args_are_refused_with_call_kept() {
    for args in [json!([1]), json!("x"), json!(null)] {
        let err = decode_err(&plain_codec(), &call_message("get_user", args));
        assert!(
            matches!(err.error, RpcError::BadField { field: "args", .. }),
            "{err}"
        );
        assert_eq!(err.call, expected_call());
    }
}

#[test]
fn missing_or_non_string_method() {
    let mut message = call_message("x", json!({}));
    message.as_object_mut().unwrap().remove("method");
    let err = decode_err(&plain_codec(), &message);
    assert!(matches!(err.error, RpcError::MissingMethod));
    assert_eq!(err.call, expected_call());
    assert_eq!(err.unique_id.as_deref(), Some("u1"));
    message["method"] = json!(7);
    let err = decode_err(&plain_codec(), &message);
    assert!(matches!(
        err.error,
        RpcError::BadField {
            field: "method",
            ..
        }
    ));
}

#[test]
fn envelope_errors_through_the_codec() {
    let codec = plain_codec();
    let v1 = json!({"oslo.version": "1.0", "oslo.message": "{}"}).to_string();
    assert!(
        matches!(codec.decode_request(v1.as_bytes()).unwrap_err().error, RpcError::OsloVersion(v) if v == "\"1.0\"")
    );
    let not_str = json!({"oslo.version": "2.0", "oslo.message": {"method": "x"}}).to_string();
    let err = codec.decode_request(not_str.as_bytes()).unwrap_err();
    assert!(matches!(
        err.error,
        RpcError::BadField {
            field: "oslo.message",
            ..
        }
    ));
    assert!(err.method.is_none(), "the inner message is not read at all");
    assert!(matches!(
        codec.decode_request(b"\xff\xfe").unwrap_err().error,
        RpcError::Json(_)
    ));
}

#[test]
fn version_major_must_be_1() {
    for ok in ["1.0", "1.3", "1.99"] {
        let mut m = call_message("get_user", json!({}));
        m["version"] = json!(ok);
        assert_eq!(
            plain_codec()
                .decode_request(&body(&m))
                .unwrap()
                .version
                .as_deref(),
            Some(ok)
        );
    }
    for bad in ["2.0", "0.9", "x", ""] {
        let mut m = call_message("get_user", json!({}));
        m["version"] = json!(bad);
        let err = decode_err(&plain_codec(), &m);
        assert!(
            matches!(&err.error, RpcError::UnsupportedVersion(v) if v == bad),
            "{bad}"
        );
        assert_eq!(err.call, expected_call());
        assert_eq!(err.failure().class().name(), "UnsupportedVersion");
    }
    let mut m = call_message("get_user", json!({}));
    m["version"] = json!(1.0);
    assert!(matches!(
        decode_err(&plain_codec(), &m).error,
        RpcError::BadField {
            field: "version",
            ..
        }
    ));
}

#[test]
fn other_call_fields() {
    let mut m = call_message("slow", json!({}));
    m["_timeout"] = json!(2);
    assert_eq!(
        plain_codec()
            .decode_request(&body(&m))
            .unwrap()
            .call
            .unwrap()
            .timeout,
        Some(std::time::Duration::from_secs(2))
    );
    m["_timeout"] = json!("2");
    let err = decode_err(&plain_codec(), &m);
    assert!(matches!(
        err.error,
        RpcError::BadField {
            field: "_timeout",
            ..
        }
    ));
    assert_eq!(
        err.call.as_ref().map(|c| c.msg_id.as_str()),
        Some("m1"),
        "still answerable"
    );

    let mut m = call_message("x", json!({}));
    m.as_object_mut().unwrap().remove("_reply_q");
    let err = decode_err(&plain_codec(), &m);
    assert!(matches!(
        err.error,
        RpcError::BadField {
            field: "_reply_q",
            ..
        }
    ));
    assert!(err.call.is_none());

    let mut m = call_message("x", json!({}));
    m["_unique_id"] = json!(5);
    assert!(matches!(
        decode_err(&plain_codec(), &m).error,
        RpcError::BadField {
            field: "_unique_id",
            ..
        }
    ));
    let mut m = call_message("x", json!({}));
    m["namespace"] = json!("other");
    assert!(matches!(
        decode_err(&plain_codec(), &m).error,
        RpcError::BadField {
            field: "namespace",
            ..
        }
    ));
    m["namespace"] = Value::Null;
    assert!(plain_codec().decode_request(&body(&m)).is_ok());
}
