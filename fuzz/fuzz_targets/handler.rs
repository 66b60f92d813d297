//! The whole handler: arbitrary deliveries through decode, parse, the
//! journal, a fake mysqld (with scripted faults) and the answer, to a fake
//! broker (`guestagent::testkit`).
//!
//! The input picks the agent's setup (plain or encrypted, plaintext allowed
//! or not, root enabling on or off), the database's faults, and up to eight
//! deliveries. Each delivery is raw bytes or a Trove-shaped request (one of
//! a few templates) whose envelope fields are replaced by whatever the input
//! says: any `_msg_id`, `_reply_q`, `_timeout`, `_unique_id`, method or
//! version, any argument values; under a key, some arguments or the context
//! are encrypted correctly, some spliced from other blobs, some left as they
//! are.
//!
//! Checks: no panic, and every delivery is settled exactly once with at most
//! one well-formed answer, sent where the request asked (`testkit::verify`).
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use guestagent::testkit::Crypto;
use guestagent::testkit::{Drive, Fault, Setup, encrypt_like_trove, envelope, verify};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use serde_json::{Map, Number, Value, json};

const KEY: &str = "fuzz-instance-key";

/// Requests as Trove's client sends them (arguments before encryption).
fn templates() -> Vec<(&'static str, Value)> {
    vec![
        ("rpc_ping", json!({})),
        ("get_user", json!({"username": "app", "hostname": "%"})),
        (
            "list_users",
            json!({"limit": 2, "marker": null, "include_marker": false}),
        ),
        (
            "create_user",
            json!({"users": [{"_name": "app", "_host": "%", "_password": "pw-1", "_databases": [{"_name": "db1"}]}]}),
        ),
        (
            "create_database",
            json!({"databases": [{"_name": "db1", "_character_set": null, "_collate": null}]}),
        ),
        (
            "delete_user",
            json!({"user": {"_name": "app", "_host": "%"}}),
        ),
        (
            "change_passwords",
            json!({"users": [{"name": "app", "host": "%", "password": "pw-2"}]}),
        ),
        (
            "update_attributes",
            json!({"username": "app", "hostname": "%", "user_attrs": {"name": "app2"}}),
        ),
        (
            "grant_access",
            json!({"username": "app", "hostname": "%", "databases": ["db1"]}),
        ),
        (
            "enable_root_with_password",
            json!({"root_password": "pw-root"}),
        ),
        (
            "regenerate_password",
            json!({"username": "app", "hostname": "%"}),
        ),
        ("list_database_users", json!({"page": 1})),
        (
            "prepare",
            json!({"packages": "", "memory_mb": 1024, "databases": [{"_name": "db1"}],
                   "users": [{"_name": "app", "_host": "%", "_password": "pw-1",
                              "_require": "ssl", "_max_connections": 3}],
                   "mount_point": "/var/lib/mysql", "backup_info": null, "overrides": {},
                   "modules": [], "ds_version": "10.11"}),
        ),
        (
            "ssl_action",
            json!({"mode": "enforced", "enable": true, "container": {"certificate": "x"}}),
        ),
        ("ssl_rollback", json!({})),
        ("get_root_history", json!({})),
        ("get_filesystem_stats", json!({"fs_path": null})),
        ("get_action", json!({"id": 1})),
    ]
}

fn text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0..=5)? {
        0 => String::new(),
        1 => "x".repeat(u.int_in_range(250..=300)?),
        2 => "é".repeat(u.int_in_range(120..=140)?),
        3 => "a\u{0}b\n\u{200b}\u{1b}[2J".into(),
        _ => String::arbitrary(u)?,
    })
}

fn number(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    Ok(match u.int_in_range(0..=3)? {
        0 => Value::from(i64::arbitrary(u)?),
        1 => Value::from(u64::arbitrary(u)?),
        2 => Number::from_f64(f64::arbitrary(u)?).map_or(Value::Null, Value::Number),
        _ => json!(1e300),
    })
}

fn value(u: &mut Unstructured<'_>, depth: u8) -> arbitrary::Result<Value> {
    let top = if depth == 0 { 3 } else { 5 };
    Ok(match u.int_in_range(0..=top)? {
        0 => Value::Null,
        1 => Value::Bool(bool::arbitrary(u)?),
        2 => number(u)?,
        3 => Value::String(text(u)?),
        4 => Value::Array(
            (0..u.int_in_range(0..=3)?)
                .map(|_| value(u, depth - 1))
                .collect::<arbitrary::Result<_>>()?,
        ),
        _ => {
            let keys = [
                "_name",
                "_host",
                "_password",
                "_databases",
                "_require",
                "_max_connections",
                "_locked",
                "_password_expire_days",
                "_auth_plugin",
                "name",
                "host",
                "password",
                "users",
                "databases",
            ];
            let mut m = Map::new();
            for _ in 0..u.int_in_range(0..=3)? {
                let k = *u.choose(&keys)?;
                m.insert(k.into(), value(u, depth - 1)?);
            }
            Value::Object(m)
        }
    })
}

/// One request: a template with its envelope and arguments mangled.
fn request(u: &mut Unstructured<'_>, crypto: Option<&Crypto>) -> arbitrary::Result<Vec<u8>> {
    if u.ratio(1, 8)? {
        return Ok(Vec::<u8>::arbitrary(u)?);
    }
    let all = templates();
    let (method, args) = u.choose(&all)?.clone();
    let mut m = Map::new();
    m.insert("method".into(), Value::String(method.into()));
    m.insert("args".into(), args);
    m.insert("version".into(), json!("1.0"));
    let ids = ["u1", "u2", "u3"];
    m.insert("_unique_id".into(), json!(*u.choose(&ids)?));
    if u.ratio(2, 3)? {
        m.insert("_msg_id".into(), json!("msg-1"));
        m.insert("_reply_q".into(), json!("reply_fuzz"));
        m.insert("_timeout".into(), Value::Null);
    }
    m.insert("_context_request_id".into(), json!("req-f"));
    m.insert(
        "_context_trove_notification".into(),
        json!({"server_type": "api"}),
    );
    // Mangle some fields of the envelope.
    let fields = [
        "method",
        "version",
        "_unique_id",
        "_msg_id",
        "_reply_q",
        "_timeout",
        "namespace",
        "args",
    ];
    for _ in 0..u.int_in_range(0..=3)? {
        let f = *u.choose(&fields)?;
        let v = match u.int_in_range(0..=2)? {
            0 => Value::String(text(u)?),
            1 => number(u)?,
            _ => value(u, 2)?,
        };
        m.insert(f.into(), v);
    }
    // And some arguments.
    if let Some(Value::Object(args)) = m.get_mut("args") {
        for _ in 0..u.int_in_range(0..=2)? {
            let keys: Vec<String> = args.keys().cloned().collect();
            if let Some(k) = keys.get(u.choose_index(keys.len().max(1))?) {
                let v = value(u, 3)?;
                args.insert(k.clone(), v);
            }
        }
    }
    let m = match crypto {
        Some(c) if u.ratio(3, 4)? => {
            let mut sealed = encrypt_like_trove(c, &m);
            // Sometimes move one blob over another: a splice or a replay.
            if u.ratio(1, 4)?
                && let Some(Value::String(ctx)) = sealed.get("_context_context").cloned()
                && let Some(Value::Object(args)) = sealed.get_mut("args")
                && let Some(first) = args.keys().next().cloned()
            {
                args.insert(first, Value::String(ctx));
            }
            sealed
        }
        _ => m,
    };
    Ok(envelope(&m))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(keyed) = bool::arbitrary(&mut u) else {
        return;
    };
    let faults: Vec<Option<Fault>> = (0..u.int_in_range(0..=12).unwrap_or(0))
        .map(|_| match u.int_in_range(0..=5).unwrap_or(0) {
            0 => Some(Fault::Away),
            1 => Some(Fault::LostAnswer),
            2 => Some(Fault::Refused),
            _ => None,
        })
        .collect();
    let setup = Setup {
        key: keyed.then(|| KEY.to_owned()),
        allow_plaintext: u.ratio(1, 4).unwrap_or(false),
        deny_root_enable: u.ratio(1, 4).unwrap_or(false),
        faults,
        await_prepare: u.ratio(1, 2).unwrap_or(false),
    };
    let crypto = keyed.then(|| Crypto::new(&SecretString::from(KEY)));
    let mut bodies = Vec::new();
    for _ in 0..u.int_in_range(1..=8).unwrap_or(1) {
        match request(&mut u, crypto.as_ref()) {
            Ok(b) => bodies.push(b),
            Err(_) => break,
        }
    }
    // A fresh state directory per run, on tmpfs where there is one.
    let dir = tempfile::Builder::new()
        .prefix("ga-fuzz-")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a temporary directory");
    let drive = Drive::new(&setup, dir.path()).expect("a drive");
    let settled = drive.deliver(&bodies);
    if let Err(e) = verify(&bodies, &settled, 0) {
        panic!("{e}");
    }
});
