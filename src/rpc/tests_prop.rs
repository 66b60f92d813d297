//! Properties over arbitrary input: decoding never panics, encryption and the
//! Python-style JSON writer lose nothing.

use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::*;

fn crypto() -> Crypto {
    Crypto::new(&SecretString::from("prop-key".to_owned()))
}

proptest! {
    #[test]
    fn decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Codec::new(None, false, 4096, "g".into()).decode_request(&body);
        let _ = Codec::new(Some(crypto()), false, 4096, "g".into()).decode_request(&body);
    }

    #[test]
    fn decode_never_panics_on_enveloped_junk(inner in ".{0,200}", blob in "[A-Za-z0-9+/=]{0,80}") {
        let codec = Codec::new(Some(crypto()), false, 4096, "g".into());
        let body = json!({"oslo.version": "2.0", "oslo.message": inner}).to_string();
        let _ = codec.decode_request(body.as_bytes());
        let message = json!({"method": "m", "args": {"a": blob}, "_context_context": blob,
                             "_msg_id": "x", "_reply_q": "q"});
        let body = json!({"oslo.version": "2.0", "oslo.message": message.to_string()}).to_string();
        let err = codec.decode_request(body.as_bytes()).unwrap_err();
        prop_assert!(err.call.is_some());
    }

    #[test]
    fn encryption_round_trips(plaintext in proptest::collection::vec(any::<u8>(), 0..300)) {
        let c = crypto();
        let blob = c.encrypt(&plaintext);
        let back = c.decrypt(&blob).unwrap();
        prop_assert_eq!(back.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn python_json_strings_reparse(s in any::<String>()) {
        let text = pyjson::dumps(&Value::String(s.clone()));
        prop_assert!(text.is_ascii());
        prop_assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), Value::String(s));
    }

    #[test]
    fn python_json_strings_as_python_escapes_them(s in any::<String>()) {
        let mut fast = String::new();
        pyjson::write_str(&mut fast, &s);
        prop_assert_eq!(fast, escape_like_python(&s));
    }

    #[test]
    fn serde_output_is_the_value_writers(v in value()) {
        prop_assert_eq!(pyjson::to_text(&v).unwrap(), pyjson::dumps(&v));
    }

    #[test]
    fn python_json_floats_reparse(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        // Parsed with std, which rounds correctly; serde_json's default parser may
        // be off by an ulp, as Python's is not.
        let text = pyjson::dumps(&json!(f));
        prop_assert_eq!(text.parse::<f64>().unwrap().to_bits(), f.to_bits(), "{}", text);
    }
}

/// Any JSON value: every number kind, strings of any characters (keys too),
/// nested a few levels.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings of any characters, and strings dense in the ones JSON and
/// Python escape (which arbitrary Unicode seldom picks).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[\\x00-\\x1f\\x7f\"\\\\/a é€😀]{0,12}",]
}

/// `json.dumps(s)` (ensure_ascii) character by character, from a table:
/// the reference for the writer's fast path.
fn escape_like_python(s: &str) -> String {
    const SHORT: [(char, &str); 7] = [
        ('"', "\\\""),
        ('\\', "\\\\"),
        ('\n', "\\n"),
        ('\r', "\\r"),
        ('\t', "\\t"),
        ('\u{8}', "\\b"),
        ('\u{c}', "\\f"),
    ];
    let mut out = String::from("\"");
    for c in s.chars() {
        if let Some((_, escaped)) = SHORT.iter().find(|(k, _)| *k == c) {
            out.push_str(escaped);
        } else if (' '..='~').contains(&c) {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0u16; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.push('"');
    out
}
