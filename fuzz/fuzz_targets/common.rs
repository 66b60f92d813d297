//! Shared by the `envelope` and `decrypt` targets: decode a body as the agent
//! does, then build the answer the agent would send, and check it is a
//! well-formed oslo 2.0 envelope.

use guestagent::testkit::Codec;
use serde_json::{Map, Value};

/// Parses an oslo 2.0 body the agent produced; panics (a fuzz failure) if it
/// is not one.
fn inner_of(body: &[u8]) -> Map<String, Value> {
    let outer: Value = serde_json::from_slice(body).expect("agent output is not JSON");
    assert_eq!(
        outer["oslo.version"], "2.0",
        "agent output has no oslo.version 2.0"
    );
    let inner = outer["oslo.message"]
        .as_str()
        .expect("oslo.message is not a string");
    match serde_json::from_str(inner).expect("oslo.message is not JSON") {
        Value::Object(m) => m,
        other => panic!("oslo.message is not an object: {other}"),
    }
}

#[allow(dead_code)]
pub fn decode_and_answer(codec: &Codec, data: &[u8]) {
    match codec.decode_request(data) {
        Ok(request) => {
            // The agent logs requests with Debug (argument names only).
            let _ = format!("{request:?}");
            let _ = request.context.request_id();
            // A cast's outcome carries the context back to the conductor.
            let cast = codec.encode_cast("notify_end", Map::new(), &request.context);
            let inner = inner_of(&cast);
            assert_eq!(inner["method"], "notify_end");
            // A call's result is encrypted (with a key) or plain JSON; either
            // way what the caller gets back is the value that was sent.
            if let Some(call) = &request.call {
                let result = Value::Object(request.args.clone());
                let reply = codec.encode_reply(&call.msg_id, Ok(&result));
                let inner = inner_of(&reply);
                assert_eq!(inner["_msg_id"].as_str(), Some(call.msg_id.as_str()));
            }
        }
        Err(error) => {
            let _ = error.to_string();
            let _ = error.error.code();
            let failure = error.failure();
            assert!(!failure.class().name().is_empty());
            let _ = (
                failure.class().module(),
                failure.message(),
                failure.to_string(),
            );
            // A call that cannot be decoded is still answered.
            if let Some(call) = &error.call {
                let reply = codec.encode_failure(&call.msg_id, &failure);
                let inner = inner_of(&reply);
                assert_eq!(inner["_msg_id"].as_str(), Some(call.msg_id.as_str()));
                let wire = inner["failure"].as_str().expect("failure is not a string");
                let parsed: Value = serde_json::from_str(wire).expect("failure is not JSON");
                assert!(
                    parsed["class"].is_string() && parsed["message"].is_string(),
                    "{parsed}"
                );
            }
        }
    }
}
