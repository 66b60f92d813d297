//! [`Codec`]'s replies, heartbeats and conductor casts on hand-made input: their
//! shape, and that encrypted parts decrypt to what went in. Byte-level
//! comparison with the real Python peers is in `tests_wire.rs`.

use serde_json::{Map, Value, json};

use super::tests_decode::{GUEST, KEY, crypto, keyed_codec, object, plain_codec};
use super::*;

fn inner_of(body: &[u8]) -> Map<String, Value> {
    let outer: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(outer["oslo.version"], "2.0");
    object(serde_json::from_str(outer["oslo.message"].as_str().unwrap()).unwrap())
}

#[test]
fn replies_plaintext_and_encrypted() {
    let result = json!({"_name": "root", "_password": "generated"});
    let plain = plain_codec().encode_reply(&WireId::parse("m1").unwrap(), Ok(&result));
    let text = String::from_utf8(plain.clone()).unwrap();
    assert!(
        text.starts_with(
            r#"{"oslo.version": "2.0", "oslo.message": "{\"result\": {\"_name\": \"root\""#
        ),
        "{text}"
    );
    let inner = inner_of(&plain);
    assert_eq!(inner.keys().len(), 5);
    assert_eq!(inner["result"], result);
    assert_eq!(inner["failure"], Value::Null);
    assert_eq!(inner["ending"], true);
    assert_eq!(inner["_msg_id"], "m1");
    assert_eq!(inner["_unique_id"].as_str().unwrap().len(), 32);

    let codec = keyed_codec(KEY, false);
    for value in [result, Value::Null] {
        let inner = inner_of(&codec.encode_reply(&WireId::parse("m1").unwrap(), Ok(&value)));
        let blob = inner["result"].as_str().unwrap();
        assert!(!blob.contains("generated"));
        let back: Value = serde_json::from_slice(&crypto(KEY).decrypt(blob).unwrap()).unwrap();
        assert_eq!(back, value);
    }
}

#[test]
fn failures_are_never_encrypted() {
    let failure = Failure::new(
        crate::model::WireClass::UserNotFound,
        "User u@% cannot be found on the instance.",
    );
    let inner =
        inner_of(&keyed_codec(KEY, false).encode_failure(&WireId::parse("m1").unwrap(), &failure));
    assert_eq!(inner["result"], Value::Null);
    let wire: Value = serde_json::from_str(inner["failure"].as_str().unwrap()).unwrap();
    assert_eq!(wire["class"], "UserNotFound");
    assert_eq!(wire["module"], "trove.common.exception");
    assert_eq!(
        wire["args"],
        json!(["User u@% cannot be found on the instance."])
    );
}

#[test]
fn casts_plaintext_and_encrypted() {
    let context = Context::from_map(object(
        json!({"request_id": "req-1", "trove_notification": {"a": 1}}),
    ));
    let args = object(
        json!({"instance_id": GUEST, "payload": {"service_status": "healthy"}, "sent": 1.5}),
    );
    let inner = inner_of(&plain_codec().encode_cast("heartbeat", args.clone(), &context));
    assert_eq!(inner["method"], "heartbeat");
    assert_eq!(
        Value::Object(object(inner["args"].clone())),
        Value::Object(args.clone())
    );
    assert_eq!(inner["version"], "1.0");
    assert_eq!(inner["_context_request_id"], "req-1");
    assert_eq!(inner["_context_trove_notification"], json!({"a": 1}));
    assert!(!inner.contains_key("_msg_id"));

    let inner = inner_of(&keyed_codec(KEY, false).encode_cast("heartbeat", args.clone(), &context));
    let c = crypto(KEY);
    for (name, value) in &args {
        let wrapped = inner["args"][name].as_str().unwrap();
        assert!(wrapped.starts_with(r#"{"entity": ""#), "{wrapped}");
        let wrapped: Value = serde_json::from_str(wrapped).unwrap();
        assert_eq!(wrapped["csz-instance-id"], GUEST);
        let back: Value =
            serde_json::from_slice(&c.decrypt(wrapped["entity"].as_str().unwrap()).unwrap())
                .unwrap();
        assert_eq!(&back, value);
    }
    assert_eq!(inner["_context_csz-instance-id"], GUEST);
    let ctx = c
        .decrypt(inner["_context_context"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&ctx).unwrap(),
        Value::Object(context.into_map())
    );
    assert_eq!(
        inner.keys().filter(|k| k.starts_with("_context_")).count(),
        2
    );
}
