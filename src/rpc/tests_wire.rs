//! Compatibility with the real Trove 26 / oslo.messaging 18.3.1 peers, on bytes
//! they produced:
//!
//! - `testdata/wire_{encrypted,plaintext}.json`: bodies captured on RabbitMQ
//!   between Trove's real guest API client, a real oslo RPC server configured as
//!   Trove's Python agent, and Trove's conductor API (`capture_wire.py`);
//! - `testdata/trove_vectors.json`: Trove's serializers run with fixed IVs
//!   (`make_vectors.py`).
//!
//! The other direction, Python reading what this module writes, is checked by
//! `testdata/check_rust_output.py` on the file `write_interop_sample` produces.

use secrecy::SecretString;
use serde_json::{Map, Value, json};

use super::*;

const LIMIT: usize = 1 << 20;

fn load(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn encrypted() -> Value {
    load(include_str!("testdata/wire_encrypted.json"))
}

fn plaintext() -> Value {
    load(include_str!("testdata/wire_plaintext.json"))
}

fn codec_for(capture: &Value, allow_plaintext: bool) -> Codec {
    let crypto = capture["key"]
        .as_str()
        .map(|k| Crypto::new(&SecretString::from(k.to_owned())));
    Codec::new(
        crypto,
        allow_plaintext,
        LIMIT,
        capture["guest_id"].as_str().unwrap().into(),
    )
}

fn body<'a>(capture: &'a Value, name: &str) -> &'a [u8] {
    capture["messages"][name]["body"]
        .as_str()
        .unwrap()
        .as_bytes()
}

fn inner_of(body: &[u8]) -> Map<String, Value> {
    let outer: Value = serde_json::from_slice(body).unwrap();
    match serde_json::from_str(outer["oslo.message"].as_str().unwrap()).unwrap() {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

#[test]
fn decodes_every_captured_request_with_and_without_key() {
    for capture in [encrypted(), plaintext()] {
        let codec = codec_for(&capture, false);
        let get_user = codec
            .decode_request(body(&capture, "request_get_user"))
            .unwrap();
        assert_eq!(get_user.method, "get_user");
        assert_eq!(
            Value::Object(get_user.args),
            json!({"username": "alice", "hostname": "%"})
        );
        assert_eq!(get_user.version.as_deref(), Some("1.0"));
        let raw = inner_of(body(&capture, "request_get_user"));
        let call = get_user.call.unwrap();
        assert_eq!(call.msg_id.as_str(), raw["_msg_id"].as_str().unwrap());
        assert_eq!(call.reply_q.as_str(), raw["_reply_q"].as_str().unwrap());
        assert_eq!(call.timeout, None);
        assert_eq!(get_user.unique_id.as_deref(), raw["_unique_id"].as_str());
        assert_eq!(
            get_user.context.request_id(),
            Some("req-11111111-2222-3333-4444-555555555555")
        );
        // Trove's `_call` leaves the notification as the API made it...
        assert_eq!(
            get_user.context.trove_notification().unwrap()["server_type"],
            "api"
        );

        let create = codec
            .decode_request(body(&capture, "request_create_user"))
            .unwrap();
        assert!(create.call.is_none());
        assert_eq!(
            create.args["users"],
            capture["server_saw"]["server_saw_users"]
        );
        // ...while `_cast` marks it for the guest. Field for field what the Python
        // server's endpoint received.
        let server_saw = &capture["server_saw"]["server_saw_context"];
        assert_eq!(&Value::Object(create.context.as_map().clone()), server_saw);
        assert_eq!(
            create.context.trove_notification().unwrap()["server_type"],
            "guest"
        );

        let slow = codec
            .decode_request(body(&capture, "request_slow"))
            .unwrap();
        assert_eq!(
            slow.call.unwrap().timeout,
            Some(std::time::Duration::from_secs(2))
        );
        let nosuch = codec
            .decode_request(body(&capture, "request_no_such_thing"))
            .unwrap();
        assert_eq!(nosuch.method, "no_such_thing");
        assert!(nosuch.args.is_empty());

        let v2 = codec
            .decode_request(body(&capture, "request_get_user_v2_0"))
            .unwrap_err();
        assert!(matches!(&v2.error, RpcError::UnsupportedVersion(v) if v == "2.0"));
        assert!(v2.call.is_some());
        // The same failure the real dispatcher answered.
        let python = inner_of(body(&capture, "reply_get_user_v2_0"));
        let python: Value = serde_json::from_str(python["failure"].as_str().unwrap()).unwrap();
        assert_eq!(v2.failure().message(), python["message"]);
        assert_eq!(v2.failure().class().name(), python["class"]);
        assert_eq!(v2.failure().class().module(), python["module"]);
    }
}

#[test]
fn captured_encrypted_request_under_wrong_key_is_refused() {
    let capture = encrypted();
    let codec = Codec::new(
        Some(Crypto::new(&SecretString::from("not-the-key".to_owned()))),
        false,
        LIMIT,
        "g".into(),
    );
    let err = codec
        .decode_request(body(&capture, "request_get_user"))
        .unwrap_err();
    assert!(matches!(err.error, RpcError::Undecryptable { .. }), "{err}");
    assert_eq!(err.method.as_deref(), Some("get_user"));
    assert!(err.call.is_some());
    // Plaintext captures under a key: refused, or taken as is when allowed.
    let plain = plaintext();
    let keyed = codec_for(&encrypted(), false);
    assert!(matches!(
        keyed
            .decode_request(body(&plain, "request_get_user"))
            .unwrap_err()
            .error,
        RpcError::Undecryptable { .. }
    ));
    let lenient = codec_for(&encrypted(), true);
    let req = lenient
        .decode_request(body(&plain, "request_get_user"))
        .unwrap();
    assert_eq!(req.args["username"], "alice");
}

/// Our reply with the captured `_unique_id` swapped in must equal the Python
/// server's body byte for byte.
fn assert_same_bytes(ours: Vec<u8>, python: &[u8]) {
    let ours = String::from_utf8(ours).unwrap();
    let python = std::str::from_utf8(python).unwrap();
    let theirs_id = &inner_of(python.as_bytes())["_unique_id"];
    let our_id = &inner_of(ours.as_bytes())["_unique_id"];
    let ours = ours.replace(our_id.as_str().unwrap(), theirs_id.as_str().unwrap());
    assert_eq!(ours, python);
}

#[test]
fn plaintext_replies_are_byte_identical_to_oslo() {
    let capture = plaintext();
    let codec = codec_for(&capture, false);
    let slow = inner_of(body(&capture, "reply_slow"));
    let msg_id = WireId::parse(slow["_msg_id"].as_str().unwrap()).unwrap();
    assert_same_bytes(
        codec.encode_reply(&msg_id, Ok(&json!("done"))),
        body(&capture, "reply_slow"),
    );
    let get_user = inner_of(body(&capture, "reply_get_user"));
    let ours = inner_of(&codec.encode_reply(
        &WireId::parse(get_user["_msg_id"].as_str().unwrap()).unwrap(),
        Ok(&capture["get_user_result"]),
    ));
    for key in ["result", "failure", "ending", "_msg_id"] {
        assert_eq!(ours[key], get_user[key], "{key}");
    }
}

#[test]
fn encrypted_replies_match_oslo_and_trove() {
    let capture = encrypted();
    let codec = codec_for(&capture, false);
    let crypto = Crypto::new(&SecretString::from("the-instance-key".to_owned()));
    // Python's encrypted result decrypts with our Crypto to what the client got.
    let python = inner_of(body(&capture, "reply_get_user"));
    let plain = crypto.decrypt(python["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&plain).unwrap(),
        capture["get_user_result"]
    );
    // Ours has the same members, result a blob of the same value.
    let slow = inner_of(body(&capture, "reply_slow"));
    let msg_id = WireId::parse(slow["_msg_id"].as_str().unwrap()).unwrap();
    let ours = inner_of(&codec.encode_reply(&msg_id, Ok(&json!("done"))));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        slow.keys().collect::<Vec<_>>()
    );
    let back = crypto.decrypt(ours["result"].as_str().unwrap()).unwrap();
    assert_eq!(back.as_slice(), b"\"done\"");
}

#[test]
fn conductor_casts_match_trove_conductor_api() {
    for capture in [plaintext(), encrypted()] {
        let codec = codec_for(&capture, false);
        let python = inner_of(body(&capture, "request_notify_exc_info"));
        let context = Context::from_map(
            capture["server_saw"]["server_saw_context"]
                .as_object()
                .unwrap()
                .clone(),
        );
        let notification = {
            let mut n = context.trove_notification().unwrap().clone();
            // The conductor API serializes the notification as the API created it.
            n["server_type"] = json!("api");
            n["instance_id"] = capture["guest_id"].clone();
            n
        };
        let mut args = Map::new();
        args.insert("serialized_notification".into(), notification);
        args.insert("message".into(), json!("it broke"));
        args.insert("exception".into(), json!(["line one", "line two"]));
        let ours = inner_of(&codec.encode_cast("notify_exc_info", args.clone(), &context));
        let ours_keys: Vec<_> = ours
            .keys()
            .filter(|k| !k.starts_with("_context_"))
            .collect();
        let python_keys: Vec<_> = python
            .keys()
            .filter(|k| !k.starts_with("_context_"))
            .collect();
        assert_eq!(ours_keys, python_keys);
        assert_eq!(ours["version"], python["version"]);
        assert_eq!(ours["method"], python["method"]);
        let context_keys = |m: &Map<String, Value>| {
            m.keys()
                .filter(|k| k.starts_with("_context_"))
                .cloned()
                .collect::<Vec<_>>()
        };
        let mut want = context_keys(&python);
        want.sort();
        assert_eq!(context_keys(&ours), want);
        if capture["key"].is_null() {
            for (name, value) in &args {
                assert_eq!(&ours["args"][name], value, "{name}");
                assert_eq!(&python["args"][name], value, "{name}");
            }
        } else {
            assert_eq!(
                ours["_context_csz-instance-id"],
                python["_context_csz-instance-id"]
            );
        }
    }
}

#[test]
fn conductor_wrapping_is_byte_identical_with_fixed_iv() {
    let v = load(include_str!("testdata/trove_vectors.json"));
    let crypto = Crypto::new(&SecretString::from("the-instance-key".to_owned()));
    let codec = Codec::new(None, false, LIMIT, v["guest_id"].as_str().unwrap().into());
    let iv = |hex: &str| -> [u8; 16] {
        std::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
    };
    for case in v["conductor_entities"].as_array().unwrap() {
        let text = pyjson::dumps(&case["value"]);
        let blob = crypto.encrypt_with_iv(iv(case["iv_hex"].as_str().unwrap()), text.as_bytes());
        assert_eq!(codec.wrap_entity(blob), case["wire"].as_str().unwrap());
    }
    let ctx = &v["conductor_context"];
    let text = pyjson::dumps(&ctx["context"]);
    let blob = crypto.encrypt_with_iv(iv(ctx["iv_hex"].as_str().unwrap()), text.as_bytes());
    assert_eq!(blob, ctx["wire"]["context"].as_str().unwrap());
}

/// Writes bodies for `testdata/check_rust_output.py` to read with the real
/// Python code. Run with
/// `GUESTAGENT_RPC_INTEROP_OUT=/tmp/rust_rpc.json cargo test write_interop_sample -- --ignored`.
#[test]
#[ignore = "produces input for testdata/check_rust_output.py"]
fn write_interop_sample() {
    let Ok(path) = std::env::var("GUESTAGENT_RPC_INTEROP_OUT") else {
        return;
    };
    let guest = "0a1b2c3d-0000-4000-8000-interop00001";
    let context = Context::from_map(
        json!({
            "request_id": "req-rust", "auth_token": null, "roles": ["admin"], "project_id": "p",
            "trove_notification": {"request_id": "req-rust", "server_type": "guest", "client_ip": "10.0.0.9",
                "server_ip": "api", "tenant_id": "p",
                "notification_classname": "trove.common.notification.DBaaSUserCreate"}
        })
        .as_object()
        .unwrap()
        .clone(),
    );
    let user = json!({"_name": "ünï", "_host": "%", "_password": "pw\"\\\u{1}", "_databases": [], "_is_root": false});
    let mut out = Map::new();
    for (label, key) in [("plain", None), ("keyed", Some("the-instance-key"))] {
        let crypto = key.map(|k| Crypto::new(&SecretString::from(k.to_owned())));
        let codec = Codec::new(crypto, false, LIMIT, guest.into());
        let text = |b: Vec<u8>| Value::String(String::from_utf8(b).unwrap());
        let mut notify = Map::new();
        notify.insert(
            "serialized_notification".into(),
            context.trove_notification().unwrap().clone(),
        );
        notify.insert("notification_args".into(), json!({}));
        let mut heartbeat = Map::new();
        heartbeat.insert("instance_id".into(), json!(guest));
        heartbeat.insert("payload".into(), json!({"service_status": "healthy"}));
        heartbeat.insert("sent".into(), json!(1730000000.25));
        out.insert(
            label.into(),
            json!({
                "key": key, "guest_id": guest, "user": user,
                "reply_user": text(codec.encode_reply(&WireId::parse("m-user").unwrap(), Ok(&user))),
                "reply_null": text(codec.encode_reply(&WireId::parse("m-null").unwrap(), Ok(&Value::Null))),
                "reply_user_not_found": text(codec.encode_failure(&WireId::parse("m-unf").unwrap(), &Failure::new(crate::model::WireClass::UserNotFound, "User x@% cannot be found on the instance."))),
                "reply_no_such_method": text(codec.encode_failure(&WireId::parse("m-nsm").unwrap(), &Failure::new(crate::model::WireClass::NoSuchMethod, "Endpoint does not support RPC method frobnicate"))),
                "cast_notify_end": text(codec.encode_cast("notify_end", notify, &context)),
                "cast_heartbeat": text(codec.encode_cast("heartbeat", heartbeat, &Context::empty())),
            }),
        );
    }
    std::fs::write(path, Value::Object(out).to_string()).unwrap();
}
