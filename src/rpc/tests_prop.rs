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
    fn python_json_floats_reparse(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        // Parsed with std, which rounds correctly; serde_json's default parser may
        // be off by an ulp, as Python's is not.
        let text = pyjson::dumps(&json!(f));
        prop_assert_eq!(text.parse::<f64>().unwrap().to_bits(), f.to_bits(), "{}", text);
    }
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
