//! The oslo.messaging RPC layer, byte-compatible with Trove's Python guest agent
//! (trove-wire §2, §3, §5, §6). No I/O: bytes in, bytes out.
//!
//! Every AMQP body is an oslo 2.0 envelope whose `oslo.message` is the inner
//! message as a JSON *string*:
//!
//! ```json
//! {"oslo.version": "2.0", "oslo.message": "{\"method\": \"get_user\", ...}"}
//! ```
//!
//! - **request** (inner): `method`, `args` (keyword arguments), `version`
//!   (`"1.0"`), `_unique_id`, the context as `_context_<field>` keys, and on a
//!   *call* `_msg_id`, `_reply_q`, `_timeout`; without `_msg_id` it is a *cast*.
//! - **reply**: `{"result", "failure", "ending", "_msg_id", "_unique_id"}`,
//!   `failure` being null or a JSON string naming an exception class
//!   ([`Failure`]); `"ending": false` marks a call-monitor heartbeat.
//! - **encryption** (Trove's `instance_rpc_encr_key`, [`Crypto`]): each argument
//!   value, the result and the whole context (`_context_context`) travel as
//!   `base64(IV ‖ AES-256-CBC(JSON))`; failures never do. Casts to
//!   the conductor wrap each blob as `{"entity": blob, "csz-instance-id": guest}`.
//!   Without a MAC, the scheme cannot tell a forged or replayed blob from a
//!   real one; [`ReplayGuard`] refuses every message that reuses ciphertext,
//!   and how a blob fails to decrypt is never told to the sender.
//!
//! Output is written as Python's `json.dumps` writes it (`pyjson`), so a body
//! from this agent reads like one from the Python agent.
//!
//! | file | owns |
//! | --- | --- |
//! | `mod.rs` | [`Request`], [`new_unique_id`] |
//! | `call.rs` | [`Call`], [`ReplyQueue`], [`WireId`]: the fields that route an answer, bounded |
//! | `codec.rs` | [`Codec`]: decode requests, encode replies and casts |
//! | `replay.rs` | [`ReplayGuard`]: the memory of ciphertext (the one part that touches disk) |
//! | `envelope.rs` | the oslo 2.0 envelope and the size limit |
//! | `context.rs` | [`Context`] |
//! | `crypto.rs` | [`Crypto`], Trove's AES-CBC scheme |
//! | `failure.rs` | [`Failure`], oslo's remote-exception form |
//! | `error.rs` | [`RpcError`], [`DecodeError`] |
//! | `pyjson.rs` | JSON text as Python writes it |
//!
//! `testdata/` holds vectors produced by the real Trove 26 and oslo.messaging
//! 18.3.1 code, and the scripts that produced them.

mod call;
mod codec;
mod context;
mod crypto;
mod envelope;
mod error;
mod failure;
mod pyjson;
pub mod replay;
#[cfg(test)]
mod tests_decode;
#[cfg(test)]
mod tests_encode;
#[cfg(test)]
mod tests_prop;
#[cfg(test)]
mod tests_wire;

use std::fmt;

use serde_json::{Map, Value};

pub use call::{Call, WireId};
pub use codec::Codec;
pub use context::Context;
pub use crypto::Crypto;
pub use error::{DecodeError, RpcError};
pub use failure::Failure;
pub use replay::ReplayGuard;

/// One decoded request, arguments already decrypted.
#[derive(Clone, PartialEq)]
pub struct Request {
    /// The method name, e.g. `get_user`.
    pub method: String,
    /// Keyword arguments, decrypted when a key is set. May hold passwords, so
    /// `Debug` shows only their names.
    pub args: Map<String, Value>,
    /// The requested API version as sent, e.g. `"1.0"`; its major is always 1.
    pub version: Option<String>,
    /// `_unique_id`, for deduplicating redeliveries.
    pub unique_id: Option<WireId>,
    /// How to answer; `None` for a cast.
    pub call: Option<Call>,
    /// The request context.
    pub context: Context,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("args", &self.args.keys().collect::<Vec<_>>())
            .field("version", &self.version)
            .field("unique_id", &self.unique_id)
            .field("call", &self.call)
            .field("context", &self.context)
            .finish()
    }
}

/// A fresh `_unique_id`: 32 lowercase hex characters shaped like oslo's
/// `uuid.uuid4().hex`, from the OS random source.
pub fn new_unique_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Only uniqueness matters here, not secrecy.
        bytes = crypto::unique_nonce();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unique_ids_look_like_uuid4_hex() {
        let a = new_unique_id();
        let b = new_unique_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_eq!(&a[12..13], "4");
        assert!("89ab".contains(&a[16..17]));
    }

    #[test]
    fn request_debug_hides_argument_values() {
        let Value::Object(args) = json!({"users": [{"_name": "u", "_password": "hunter2"}]}) else {
            unreachable!()
        };
        let request = Request {
            method: "create_user".into(),
            args,
            version: Some("1.0".into()),
            unique_id: None,
            call: None,
            context: Context::empty(),
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("users") && shown.contains("create_user"),
            "{shown}"
        );
    }
}
