//! The whole delivery path on fakes: hostile envelopes, the encrypted
//! agent's refusals, dedup by digest, and a property test over arbitrary
//! envelopes and arguments.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::command::method_names;
use crate::rpc::Context;
use secrecy::SecretString;

const KEY: &str = "the-instance-key";

pub(super) fn setup(key: bool) -> Setup {
    Setup {
        key: key.then(|| KEY.to_owned()),
        ..Setup::default()
    }
}

pub(super) fn drive(s: &Setup) -> (Drive, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Drive::new(s, dir.path()).unwrap(), dir)
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A call as Trove's client sends it, with a context carrying a notification.
pub(super) fn call(method: &str, args: Value, id: &str) -> Map<String, Value> {
    obj(json!({
        "method": method, "args": args, "version": "1.0",
        "_msg_id": format!("msg-{id}"), "_reply_q": "reply_test", "_timeout": null,
        "_unique_id": id, "_context_request_id": format!("req-{id}"),
        "_context_auth_token": "tok",
        "_context_trove_notification": {"server_type": "api", "request_id": format!("req-{id}")},
    }))
}

pub(super) fn cast(method: &str, args: Value, id: &str) -> Map<String, Value> {
    let mut m = call(method, args, id);
    for k in ["_msg_id", "_reply_q", "_timeout"] {
        m.remove(k);
    }
    m
}

pub(super) fn body(inner: &Map<String, Value>) -> Vec<u8> {
    envelope(inner)
}

fn crypto() -> Crypto {
    Crypto::new(&SecretString::from(KEY))
}

/// The message as Trove's SecureSerializer lays it out with the key.
fn encrypted(inner: &Map<String, Value>) -> Map<String, Value> {
    encrypt_like_trove(&crypto(), inner)
}

/// The inner message of a body the agent published.
pub(super) fn inner_of(body: &[u8]) -> Map<String, Value> {
    inner_message(body).expect("an oslo 2.0 envelope")
}

/// A reply's result, decrypted when the agent encrypts.
pub(super) fn result_of(p: &Published, key: bool) -> Result<Value, Value> {
    let inner = inner_of(&p.body);
    if let Some(Value::String(f)) = inner.get("failure") {
        return Err(serde_json::from_str(f).unwrap());
    }
    let r = inner["result"].clone();
    if !key {
        return Ok(r);
    }
    let plain = crypto().decrypt(r.as_str().unwrap()).unwrap();
    Ok(serde_json::from_slice(&plain).unwrap())
}

pub(super) fn check(bodies: &[Vec<u8>], settled: &[Settled], first_tag: u64) -> Vec<Settled> {
    verify(bodies, settled, first_tag).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn reply(s: &Settled) -> Option<&Published> {
    match s {
        Settled::Ack { published, .. } => published.first(),
        Settled::Reject { .. } | Settled::Requeue { .. } => None,
    }
}

fn ping(id: &str) -> Map<String, Value> {
    call("rpc_ping", json!({}), id)
}

#[test]
fn hostile_call_fields_never_stop_the_agent() {
    let (d, _dir) = drive(&setup(false));
    let long_q = "q".repeat(256);
    let wide_q = "é".repeat(128);
    let cases: Vec<(Map<String, Value>, &str)> = vec![
        (
            {
                let mut m = ping("a1");
                m["_reply_q"] = json!(long_q);
                m
            },
            "reject",
        ),
        (
            {
                let mut m = ping("a2");
                m["_reply_q"] = json!(wide_q);
                m
            },
            "reject",
        ),
        (
            {
                let mut m = ping("a3");
                m["_reply_q"] = json!("q\u{1b}[2J");
                m
            },
            "reject",
        ),
        (
            {
                let mut m = ping("a4");
                m["_reply_q"] = json!(5);
                m
            },
            "reject",
        ),
        (
            {
                let mut m = ping("a5");
                m["_msg_id"] = json!("m".repeat(256));
                m
            },
            "reject",
        ),
        (
            {
                let mut m = ping("a6");
                m["_msg_id"] = json!("m\nFAKE");
                m
            },
            "reject",
        ),
        (
            {
                let mut m = ping("a7");
                m["_timeout"] = json!(-1);
                m
            },
            "answer",
        ),
        (
            {
                let mut m = ping("a8");
                m["_timeout"] = json!(1e300);
                m
            },
            "answer",
        ),
        (
            {
                let mut m = ping("a9");
                m["_timeout"] = json!(i64::MIN);
                m
            },
            "answer",
        ),
        (
            {
                let mut m = ping("b1");
                m["_timeout"] = json!("soon");
                m
            },
            "failure",
        ),
        (
            {
                let mut m = ping("b2");
                m["_unique_id"] = json!("u".repeat(300));
                m
            },
            "failure",
        ),
        (
            {
                let mut m = ping("b3");
                m["method"] = json!("x".repeat(300));
                m
            },
            "failure",
        ),
        (
            {
                let mut m = ping("b4");
                m["version"] = json!("9".repeat(100));
                m
            },
            "failure",
        ),
        (
            {
                let mut m = ping("b5");
                m["method"] = json!("get_user\n2026 INFO fake");
                m
            },
            "failure",
        ),
    ];
    let bodies: Vec<Vec<u8>> = cases.iter().map(|(m, _)| body(m)).collect();
    let settled = check(&bodies, &d.deliver(&bodies), 0);
    for ((m, want), s) in cases.iter().zip(&settled) {
        match (*want, s) {
            ("reject", Settled::Reject { .. }) => {}
            ("answer", s) => assert_eq!(
                result_of(reply(s).unwrap(), false),
                Ok(json!(true)),
                "{m:?}"
            ),
            ("failure", s) => {
                let f = result_of(reply(s).expect("a failure reply"), false).unwrap_err();
                assert!(f["class"].is_string(), "{m:?}: {f}");
            }
            (want, s) => panic!("{m:?}: wanted {want}, got {s:?}"),
        }
    }
    // And the agent still answers.
    let after = d.deliver(&[body(&ping("c1"))]);
    let last = after.last().unwrap();
    assert_eq!(result_of(reply(last).unwrap(), false), Ok(json!(true)));
}

#[test]
fn undecryptable_messages_all_look_the_same_and_get_no_reply() {
    let (d, _dir) = drive(&setup(true));
    let c = crypto();
    let good = encrypted(&ping("e0"));
    let mut cases = Vec::new();
    // A context whose padding is wrong, one whose text is not JSON, one that
    // is JSON but not an object, one not base64, one too short, plaintext.
    let bad_padding = {
        let mut raw = STANDARD
            .decode(good["_context_context"].as_str().unwrap())
            .unwrap();
        let n = raw.len();
        raw[n - 17] ^= 0x55;
        STANDARD.encode(raw)
    };
    for (i, ctx) in [
        json!(bad_padding),
        json!(c.encrypt(b"{not json")),
        json!(c.encrypt(b"[1, 2]")),
        json!("%%%not base64"),
        json!(STANDARD.encode([1u8; 20])),
        json!({"request_id": "req"}),
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = good.clone();
        m["_unique_id"] = json!(format!("e{}", i + 1));
        m["_context_context"] = ctx;
        cases.push(m);
    }
    let bodies: Vec<Vec<u8>> = cases.iter().map(body).collect();
    let settled = check(&bodies, &d.deliver(&bodies), 0);
    for (i, s) in settled.iter().enumerate() {
        assert_eq!(s, &Settled::Reject { tag: i as u64 + 1 }, "case {i}");
    }
    // The bad-padding case reused most of `good`'s context blocks, so `good`
    // itself is now refused too; a fresh message is served.
    let answered = d.deliver(&[body(&good), body(&encrypted(&ping("e9")))]);
    assert_eq!(answered[answered.len() - 2], Settled::Reject { tag: 7 });
    assert_eq!(
        result_of(reply(answered.last().unwrap()).unwrap(), true),
        Ok(json!(true))
    );
}

#[test]
fn forged_and_replayed_blobs_change_nothing() {
    let (d, _dir) = drive(&setup(true));
    // The agent's own heartbeat: its context is the one-block blob of "{}".
    let hb = inner_of(
        &d.codec()
            .encode_cast("heartbeat", Map::new(), &Context::empty()),
    );
    let blob = hb["_context_context"].as_str().unwrap();
    let mut raw = STANDARD.decode(blob).unwrap();
    let known = b"{}\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e\x0e";
    let wanted = b"\"attacker-pw1\"\x02\x02";
    for i in 0..16 {
        raw[i] ^= known[i] ^ wanted[i];
    }
    let forged = STANDARD.encode(&raw);
    // Without the guard this blob decrypts to the attacker's password.
    assert_eq!(
        crypto().decrypt(&forged).unwrap().as_slice(),
        b"\"attacker-pw1\""
    );
    let mut m = encrypted(&call(
        "enable_root_with_password",
        json!({"root_password": "x"}),
        "f1",
    ));
    m["args"]["root_password"] = json!(forged);
    let s = d.deliver(&[body(&m)]);
    assert_eq!(s.last(), Some(&Settled::Reject { tag: 1 }));
    assert!(
        !d.db().has_account("root", "%"),
        "root was enabled by a forgery"
    );

    // A real change_passwords, then the same blobs under a new _unique_id
    // and under another method.
    d.db().add_account("app", "%");
    let real = encrypted(&cast(
        "change_passwords",
        json!({"users": [{"name": "app", "host": "%", "password": "pw-1"}]}),
        "r1",
    ));
    let mut replay = real.clone();
    replay["_unique_id"] = json!("r2");
    let mut moved = real.clone();
    moved["method"] = json!("regenerate_password");
    let bodies = [body(&real), body(&replay), body(&moved), body(&real)];
    let settled = check(&bodies, &d.deliver(&bodies), 1);
    assert!(matches!(&settled[0], Settled::Ack { published, .. } if published.len() == 1));
    assert!(
        matches!(settled[1], Settled::Reject { .. }),
        "{:?}",
        settled[1]
    );
    assert!(
        matches!(settled[2], Settled::Reject { .. }),
        "{:?}",
        settled[2]
    );
    // A second delivery of the real one is recognised (not refused as a
    // replay) and, its outcome already reported, acknowledged quietly.
    assert!(matches!(&settled[3], Settled::Ack { published, .. } if published.is_empty()));
}

#[test]
fn a_known_id_with_another_command_is_refused() {
    let (d, _dir) = drive(&setup(false));
    let first = call(
        "create_database",
        json!({"databases": [{"_name": "one"}]}),
        "same",
    );
    let other = call(
        "create_database",
        json!({"databases": [{"_name": "two"}]}),
        "same",
    );
    let settled = d.deliver(&[body(&first)]);
    assert!(result_of(reply(&settled[0]).unwrap(), false).is_ok());
    let settled = d.deliver(&[body(&other), body(&first)]);
    let refused = result_of(reply(&settled[1]).unwrap(), false).unwrap_err();
    assert_eq!(refused["class"], "BadRequest", "{refused}");
    assert!(result_of(reply(&settled[2]).unwrap(), false).is_ok());
    let listed = d.deliver(&[body(&call("list_databases", json!({}), "l"))]);
    let names = result_of(reply(&listed[3]).unwrap(), false).unwrap();
    assert_eq!(names[0].as_array().unwrap().len(), 1, "{names}");
}

#[test]
fn root_enable_can_be_switched_off() {
    let s = Setup {
        deny_root_enable: true,
        ..Setup::default()
    };
    let (d, _dir) = drive(&s);
    let settled = d.deliver(&[
        body(&call("enable_root", json!({}), "r1")),
        body(&call(
            "enable_root_with_password",
            json!({"root_password": "pw-pw"}),
            "r2",
        )),
        body(&call("is_root_enabled", json!({}), "r3")),
    ]);
    for s in &settled[..2] {
        let f = result_of(reply(s).unwrap(), false).unwrap_err();
        assert_eq!(f["class"], "DatastoreOperationNotSupported", "{f}");
    }
    assert_eq!(
        result_of(reply(&settled[2]).unwrap(), false),
        Ok(json!(false))
    );
    assert!(!d.db().has_account("root", "%"));
}

#[test]
fn mysqld_away_then_back_applies_once() {
    use crate::testkit::Fault;
    let s = Setup {
        faults: vec![
            Some(Fault::LostAnswer),
            Some(Fault::Away),
            Some(Fault::Away),
        ],
        ..Setup::default()
    };
    let (d, _dir) = drive(&s);
    let m = cast(
        "create_user",
        json!({"users": [{"_name": "app", "_host": "%", "_password": "pw-1"}]}),
        "c1",
    );
    let settled = check(&[body(&m)], &d.deliver(&[body(&m)]), 0);
    let note = inner_of(&reply(&settled[0]).unwrap().body);
    assert_eq!(note["method"], "notify_end", "{note:?}");
    assert_eq!(d.db().accounts(), ["app@%"]);
}

// --------------------------------------------------------------------------- property

/// Argument values near the rules' edges.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "app",
            "root",
            "os_admin",
            "%",
            "localhost",
            "127.0.0.1",
            "10.0.0.%",
            "db1",
            "mysql",
            "a'b",
            "a\u{200b}b",
            "pw-1",
            "",
            "a_b",
            "_",
        ])
        .prop_map(|s| Value::String(s.into())),
        "\\PC{0,40}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(ARGUMENT_KEYS.to_vec());
    leaf().prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..4).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// A field of the envelope: absent, or any of a few hostile or plain values.
fn field(plain: &'static str) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::String(plain.into()))),
        Just(Some(Value::String("x".repeat(256)))),
        Just(Some(Value::String("é".repeat(130)))),
        Just(Some(json!(-1))),
        Just(Some(json!(1e300))),
        Just(Some(json!(["list"]))),
        "\\PC{0,20}".prop_map(|s| Some(Value::String(s))),
    ]
}

fn message() -> impl Strategy<Value = Map<String, Value>> {
    let methods: Vec<String> = method_names()
        .map(|m| m.to_string())
        .chain(["no_such".to_string(), "x".repeat(300)])
        .collect();
    (
        prop::sample::select(methods),
        prop::collection::btree_map(
            prop::sample::select(vec![
                "users",
                "user",
                "username",
                "hostname",
                "databases",
                "database",
                "root_password",
                "limit",
                "marker",
                "user_attrs",
                "async",
                "id",
                "page",
            ]),
            value(),
            0..4,
        ),
        field("msg-1"),
        field("reply_q"),
        prop_oneof![
            Just(None),
            Just(Some(json!(null))),
            Just(Some(json!(2.5))),
            Just(Some(json!(-3))),
            Just(Some(json!(1e300))),
            Just(Some(json!("5")))
        ],
        prop::sample::select(vec!["u1", "u2", "u3", "u4"]),
        prop_oneof![
            Just(json!("1.0")),
            Just(json!("1.3")),
            Just(json!("2.0")),
            Just(json!(1)),
            Just(json!(null))
        ],
    )
        .prop_map(|(method, args, msg_id, reply_q, timeout, uid, version)| {
            let mut m = Map::new();
            m.insert("method".into(), Value::String(method));
            m.insert(
                "args".into(),
                Value::Object(args.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
            );
            m.insert("version".into(), version);
            m.insert("_unique_id".into(), Value::String(uid.into()));
            m.insert("_context_request_id".into(), json!("req-p"));
            m.insert(
                "_context_trove_notification".into(),
                json!({"server_type": "api", "request_id": "req-p"}),
            );
            for (k, v) in [
                ("_msg_id", msg_id),
                ("_reply_q", reply_q),
                ("_timeout", timeout),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            m
        })
}

fn fault() -> impl Strategy<Value = Option<Fault>> {
    prop_oneof![
        6 => Just(None),
        1 => Just(Some(Fault::Away)),
        1 => Just(Some(Fault::LostAnswer)),
        1 => Just(Some(Fault::Refused)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Any envelope, any arguments, any database faults: no panic, and every
    /// delivery is settled exactly once with at most one well-formed answer
    /// sent where the request asked.
    #[test]
    fn every_delivery_is_settled_once(
        messages in prop::collection::vec(message(), 1..12),
        encrypt in prop::collection::vec(any::<bool>(), 12),
        keyed in any::<bool>(),
        garbage in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..3),
        faults in prop::collection::vec(fault(), 0..24),
    ) {
        let s = Setup { key: keyed.then(|| KEY.to_owned()), faults, ..Setup::default() };
        let (d, _dir) = drive(&s);
        let mut bodies: Vec<Vec<u8>> = messages
            .iter()
            .zip(&encrypt)
            .map(|(m, e)| if keyed && *e { body(&encrypted(m)) } else { body(m) })
            .collect();
        bodies.extend(garbage);
        let settled = d.deliver(&bodies);
        check(&bodies, &settled, 0);
    }
}
