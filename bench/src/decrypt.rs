//! `guestagent-bench decrypt-timing`: how long the agent takes to refuse an
//! encrypted message, by the way it fails to decrypt.
//!
//! A padding oracle needs the sender to tell a blob with bad padding from
//! one with good padding and bad JSON. The agent answers neither, and this
//! measures whether the time it takes gives them apart instead. The pair
//! that matters is the attacker's: one captured context blob (Trove-sized,
//! ~1.4 KB) with its next-to-last ciphertext block altered so that the last
//! plaintext block comes out either with valid padding (and so not JSON) or
//! with invalid padding; everything before it decrypts the same. Other cases
//! (the valid blob, a blob of other text, not base64) are shown for scale:
//! their times differ by what they hold, not by how they fail. Each run uses
//! a fresh codec (the memory of ciphertext would otherwise refuse every
//! repeat before decrypting); cases are interleaved; prints the median and
//! 90th percentile per case.

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use guestagent::testkit::{Codec, Crypto};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

const KEY: &str = "bench-instance-key";

fn crypto() -> Crypto {
    Crypto::new(&SecretString::from(KEY))
}

/// A Trove context as its API sends it: about 1.4 KB of JSON.
fn context_text() -> String {
    let token = "gAAAAAB".to_owned() + &"x".repeat(180);
    json!({
        "user": "9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d", "tenant": "5d8f7a2c1e9b4f3a8c6d0e2f4a6b8c0d",
        "system_scope": null, "project": "5d8f7a2c1e9b4f3a8c6d0e2f4a6b8c0d", "domain": null,
        "user_domain": "default", "project_domain": "default", "is_admin": true,
        "read_only": false, "show_deleted": false, "auth_token": token,
        "request_id": "req-2b1c8e4f-6a3d-4b9e-8f7a-1c2d3e4f5a6b", "global_request_id": null,
        "resource_uuid": null, "roles": ["admin", "member", "reader"], "user_identity": "u p - - -",
        "is_admin_project": true, "service_catalog": [{"type": "database", "name": "trove",
        "endpoints": [{"region": "RegionOne", "url": "http://10.0.0.1:8779/v1.0/5d8f"}]}],
        "user_name": "admin", "project_name": "admin", "timeout": null,
        "trove_notification": {"server_type": "api", "client_ip": "10.0.0.9",
        "server_ip": "10.0.0.1", "tenant_id": "5d8f7a2c1e9b4f3a8c6d0e2f4a6b8c0d",
        "instance_id": "7f3c2a4e-1b2d-4c5e-8f90-123456789abc", "username": "app",
        "notification_classname": "trove.common.notification.DBaaSUserCreate"}
    })
    .to_string()
}

fn message(context_blob: String) -> Vec<u8> {
    let c = crypto();
    let mut m = Map::new();
    m.insert("method".into(), json!("get_user"));
    m.insert(
        "args".into(),
        json!({"username": c.encrypt(b"\"app\""), "hostname": c.encrypt(b"\"%\"")}),
    );
    m.insert("version".into(), json!("1.0"));
    m.insert("_msg_id".into(), json!("5a0f6ee4b7b44c8e9f0aa5f1b0c3d9e2"));
    m.insert("_reply_q".into(), json!("reply_0a1b2c3d4e5f"));
    m.insert("_timeout".into(), Value::Null);
    m.insert(
        "_unique_id".into(),
        json!("b3d9e2c4a5f14e6b8d7c9e0f1a2b3c4d"),
    );
    m.insert("_context_context".into(), Value::String(context_blob));
    let inner = Value::Object(m).to_string();
    json!({"oslo.version": "2.0", "oslo.message": inner})
        .to_string()
        .into_bytes()
}

/// The same length of plaintext as the real context, so every case decrypts
/// as many blocks.
fn padded(text: &str, len: usize) -> Vec<u8> {
    let mut t = text.as_bytes().to_vec();
    t.resize(len, b' ');
    t
}

/// The blob with its last plaintext block turned into `last`, by altering
/// the ciphertext block before it, as an attacker probing padding does.
fn with_last_block(blob: &str, was: &[u8; 16], last: &[u8; 16]) -> String {
    let mut raw = STANDARD.decode(blob).unwrap_or_default();
    let n = raw.len();
    if let Some(prev) = raw.get_mut(n.saturating_sub(32)..n.saturating_sub(16)) {
        for ((b, w), l) in prev.iter_mut().zip(was).zip(last) {
            *b ^= w ^ l;
        }
    }
    STANDARD.encode(raw)
}

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let c = crypto();
    let mut ctx = context_text();
    // Whole blocks of text, so the last plaintext block is all padding.
    while !ctx.len().is_multiple_of(16) {
        ctx.push(' ');
    }
    let good = c.encrypt(ctx.as_bytes());
    let was = [16u8; 16];
    let mut valid_pad = *b"xxxxxxxxxxxxxxxx";
    valid_pad[15] = 1;
    let mut bad_pad = *b"xxxxxxxxxxxxxxxx";
    bad_pad[15] = 0;
    vec![
        ("valid", message(good.clone())),
        (
            "probe: bad padding",
            message(with_last_block(&good, &was, &bad_pad)),
        ),
        (
            "probe: good padding",
            message(with_last_block(&good, &was, &valid_pad)),
        ),
        (
            "other text, not JSON",
            message(c.encrypt(&padded("{not json", ctx.len()))),
        ),
        (
            "JSON, not an object",
            message(c.encrypt(&padded("[1]", ctx.len()))),
        ),
        ("not base64", message("%".repeat(ctx.len() * 4 / 3))),
    ]
}

/// Runs the measurement and prints it.
pub fn run(iterations: usize) -> Result<(), String> {
    let cases = cases();
    let mut samples: Vec<Vec<u64>> = vec![Vec::with_capacity(iterations); cases.len()];
    // A new order every round: which case runs after which shifts the times
    // by half a microsecond, more than any case's own difference.
    let mut order: Vec<usize> = (0..cases.len()).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..iterations {
        for k in (1..order.len()).rev() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            order.swap(k, (seed >> 33) as usize % (k + 1));
        }
        for &i in &order {
            let body = &cases[i].1;
            let codec = Codec::new(Some(crypto()), false, 1 << 20, "bench-guest".into());
            let start = Instant::now();
            let outcome = codec.decode_request(body);
            let ns = start.elapsed().as_nanos();
            std::hint::black_box(&outcome);
            samples[i].push(u64::try_from(ns).unwrap_or(u64::MAX));
        }
    }
    println!(
        "decode_request of a get_user call with a Trove context, {iterations} runs per case, shuffled"
    );
    println!(
        "{:<22} {:>10} {:>10}  outcome",
        "context", "p50 µs", "p90 µs"
    );
    for ((name, body), s) in cases.iter().zip(samples.iter_mut()) {
        s.sort_unstable();
        let at = |q: f64| s[((s.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
        let codec = Codec::new(Some(crypto()), false, 1 << 20, "bench-guest".into());
        let outcome = match codec.decode_request(body) {
            Ok(_) => "decoded".to_owned(),
            Err(e) => format!("refused: {}", e.error),
        };
        println!("{name:<22} {:>10.1} {:>10.1}  {outcome}", at(0.5), at(0.9));
    }
    Ok(())
}
