//! The oslo.messaging 2.0 messages the bench sends and reads, shaped like the
//! ones Trove 26's client sends (captured in `src/rpc/testdata/wire_plaintext.json`):
//! the envelope, the call fields and the whole flattened Trove context.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

static RUN: OnceLock<u64> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(1);

/// A random number fixed for this run: ids and names built from it never
/// meet those of another run (or of a journal left behind by one).
pub fn run_tag() -> u64 {
    *RUN.get_or_init(|| {
        getrandom::u64().unwrap_or_else(|_| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            t ^ u64::from(std::process::id()) << 32
        })
    })
}

/// 32 lowercase hex characters, unique within the run and across runs.
pub fn new_id() -> String {
    format!(
        "{:016x}{:016x}",
        run_tag(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// 8 hex characters naming this run's queues and guest.
pub fn short_tag() -> String {
    format!("{:08x}", run_tag() as u32)
}

/// Call or cast.
#[derive(Debug, Clone, Copy)]
pub enum Kind<'a> {
    /// A call: the reply goes to `reply_q` with `msg_id`.
    Call {
        /// `_msg_id`.
        msg_id: &'a str,
        /// `_reply_q`.
        reply_q: &'a str,
    },
    /// A cast: no reply; the outcome comes through the conductor.
    Cast,
}

/// A request body: `method(args)` with Trove's full context whose
/// `request_id` (and the notification's) is `request_id`.
pub fn request(method: &str, args: Value, kind: Kind<'_>, request_id: &str) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("method".into(), Value::String(method.into()));
    m.insert("args".into(), args);
    m.insert("version".into(), Value::String("1.0".into()));
    if let Kind::Call { msg_id, reply_q } = kind {
        m.insert("_msg_id".into(), Value::String(msg_id.into()));
        m.insert("_reply_q".into(), Value::String(reply_q.into()));
        m.insert("_timeout".into(), Value::Null);
    }
    m.insert("_unique_id".into(), Value::String(new_id()));
    let context = json!({
        "user": "usr",
        "project_id": "proj",
        "system_scope": null,
        "project": "proj",
        "domain": null,
        "user_domain": null,
        "project_domain": null,
        "is_admin": false,
        "read_only": false,
        "show_deleted": false,
        "auth_token": null,
        "request_id": request_id,
        "global_request_id": null,
        "resource_uuid": null,
        "roles": ["admin"],
        "user_identity": "usr proj - - -",
        "is_admin_project": true,
        "limit": null,
        "marker": null,
        "service_catalog": null,
        "trove_notification": {
            "request_id": request_id,
            "server_type": "api",
            "client_ip": "10.0.0.9",
            "server_ip": "api.example:8779",
            "tenant_id": "proj",
            "notification_classname": "trove.common.notification.DBaaSUserCreate",
        },
    });
    if let Value::Object(ctx) = context {
        for (k, v) in ctx {
            m.insert(format!("_context_{k}"), v);
        }
    }
    envelope(&Value::Object(m))
}

/// `{"oslo.version": "2.0", "oslo.message": "<inner as a JSON string>"}`.
pub fn envelope(inner: &Value) -> Vec<u8> {
    let outer = json!({"oslo.version": "2.0", "oslo.message": inner.to_string()});
    outer.to_string().into_bytes()
}

/// A success reply to `msg_id` (what the echo server answers control messages with).
pub fn small_reply(msg_id: &str) -> Vec<u8> {
    envelope(&json!({"result": null, "failure": null, "ending": true, "_msg_id": msg_id}))
}

/// What an answer says: whom it answers and whether it is a failure.
#[derive(Debug)]
pub struct Answer {
    /// `_msg_id` of a reply, or `_context_request_id` of a conductor cast.
    pub key: String,
    /// The failure class / message, if the answer is a failure.
    pub failure: Option<String>,
}

/// Reads a reply or a conductor cast. `None` for anything that answers no
/// request of the bench (heartbeats, call-monitor replies).
pub fn parse_answer(body: &[u8]) -> Option<Answer> {
    let outer: Value = serde_json::from_slice(body).ok()?;
    let inner: Value = serde_json::from_str(outer.get("oslo.message")?.as_str()?).ok()?;
    if let Some(id) = inner.get("_msg_id").and_then(Value::as_str) {
        if inner.get("ending") == Some(&Value::Bool(false)) {
            return None;
        }
        let failure = match inner.get("failure") {
            None | Some(Value::Null) => None,
            Some(f) => Some(failure_summary(f)),
        };
        return Some(Answer {
            key: id.to_owned(),
            failure,
        });
    }
    let method = inner.get("method")?.as_str()?;
    let key = inner.get("_context_request_id")?.as_str()?.to_owned();
    let failure = (method != "notify_end").then(|| {
        let msg = inner
            .pointer("/args/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        format!("{method}: {msg}")
    });
    Some(Answer { key, failure })
}

fn failure_summary(f: &Value) -> String {
    let parsed: Option<Value> = f.as_str().and_then(|s| serde_json::from_str(s).ok());
    match parsed {
        Some(v) => format!(
            "{}: {}",
            v.get("class").and_then(Value::as_str).unwrap_or("?"),
            v.get("message").and_then(Value::as_str).unwrap_or("")
        ),
        None => f.to_string(),
    }
}

/// Splits `body` at every occurrence of `token`; joining the parts with a new
/// token rebuilds the same message for another id.
pub fn split_on(body: &[u8], token: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while !token.is_empty() && i + token.len() <= body.len() {
        if &body[i..i + token.len()] == token {
            parts.push(body[start..i].to_vec());
            i += token.len();
            start = i;
        } else {
            i += 1;
        }
    }
    parts.push(body[start..].to_vec());
    parts
}

/// Joins template parts with `token`.
pub fn join(parts: &[Vec<u8>], token: &[u8]) -> Vec<u8> {
    let len = parts.iter().map(Vec::len).sum::<usize>() + token.len() * parts.len();
    let mut out = Vec::with_capacity(len);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(token);
        }
        out.extend_from_slice(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_and_cast_keys() {
        let r = small_reply("abc");
        let a = parse_answer(&r).unwrap();
        assert_eq!(a.key, "abc");
        assert!(a.failure.is_none());
        let body = request("create_user", json!({}), Kind::Cast, "req-1");
        // A request is not an answer of the conductor kind unless it is notify_*;
        // here it parses with the method as a failure marker.
        let a = parse_answer(&body).unwrap();
        assert_eq!(a.key, "req-1");
        assert!(a.failure.is_some());
    }

    #[test]
    fn template_round_trip() {
        let parts = split_on(b"xIDyIDz", b"ID");
        assert_eq!(join(&parts, b"NEW"), b"xNEWyNEWz");
        assert_eq!(join(&split_on(b"plain", b"ID"), b"Q"), b"plain");
    }
}
