//! Requests in, replies and conductor casts out: the envelope, the call fields,
//! the context and Trove's encryption put together.
//!
//! A request's inner message, as Trove 26's client sends it (key order kept):
//!
//! ```json
//! {"method": "get_user", "args": {"username": "<blob>", "hostname": "<blob>"},
//!  "version": "1.0", "_msg_id": "<hex>", "_reply_q": "reply_<hex>", "_timeout": null,
//!  "_unique_id": "<hex>", "_context_context": "<blob>"}
//! ```
//!
//! Without a key the argument values are plain JSON and the context is spread over
//! `_context_<field>` keys. A cast has no `_msg_id`, `_reply_q` or `_timeout`;
//! `_timeout` is the caller's call-monitor interval and is null unless it asked
//! for heartbeat replies. There is no `namespace` key (oslo omits a null one).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::call::{self, ReplyQueue, WireId};
use super::context::PREFIX;
use super::crypto::parse_blob;
use super::replay::{ReplayGuard, Seal, Verdict};
use super::{
    Call, Context, Crypto, DecodeError, Failure, Request, RpcError, envelope, new_unique_id, pyjson,
};
use crate::model::WireClass;

/// The version this agent sends its casts with and whose major it serves.
const VERSION: &str = "1.0";
/// Longest method name accepted, in bytes.
const MAX_METHOD_BYTES: usize = 255;

/// Everything decode and encode need; built once at start-up.
#[derive(Debug)]
pub struct Codec {
    keyed: Option<Keyed>,
    allow_plaintext: bool,
    max_bytes: usize,
    guest_id: String,
}

/// Trove's instance key and the memory of every blob made or seen with it.
#[derive(Debug)]
struct Keyed {
    crypto: Crypto,
    guard: ReplayGuard,
}

impl Codec {
    /// `crypto`: Trove's instance key, if set. `allow_plaintext`: with a key, accept
    /// values that are not (or do not decrypt as) blobs, as Trove itself silently
    /// does; meant only for migrating. `max_bytes`: the largest body accepted.
    /// `guest_id`: this instance's id, named in encrypted conductor casts.
    ///
    /// With a key, the codec remembers ciphertext for a day (see
    /// [`Codec::with_replay_guard`] for another memory).
    pub fn new(
        crypto: Option<Crypto>,
        allow_plaintext: bool,
        max_bytes: usize,
        guest_id: String,
    ) -> Self {
        let keyed = crypto.map(|crypto| Keyed {
            crypto,
            guard: ReplayGuard::new(std::time::Duration::from_secs(86_400)),
        });
        Self {
            keyed,
            allow_plaintext,
            max_bytes,
            guest_id,
        }
    }

    /// Uses `guard` (restored from disk, with the configured window) as the
    /// memory of ciphertext; no effect without a key.
    pub fn with_replay_guard(mut self, guard: ReplayGuard) -> Self {
        if let Some(k) = &mut self.keyed {
            k.guard = guard;
        }
        self
    }

    /// The memory of ciphertext, when a key is set.
    pub fn replay_guard(&self) -> Option<&ReplayGuard> {
        self.keyed.as_ref().map(|k| &k.guard)
    }

    /// Decodes one AMQP body. On error, [`DecodeError`] keeps `call`, `unique_id`
    /// and `method` whenever they were readable, so a call can still be answered.
    #[expect(
        clippy::result_large_err,
        reason = "one error per undecodable delivery; boxing would only complicate the fields callers read"
    )]
    pub fn decode_request(&self, body: &[u8]) -> Result<Request, DecodeError> {
        let mut message = envelope::open(body, self.max_bytes).map_err(DecodeError::bare)?;
        let (call, call_error) = read_call(&message);
        let unique_id = read_unique_id(&message);
        let method = match message.get("method") {
            None | Some(Value::Null) => Err(RpcError::MissingMethod),
            Some(Value::String(m)) if !m.is_empty() && m.len() <= MAX_METHOD_BYTES => Ok(m.clone()),
            Some(_) => Err(bad("method", "a method name of 1 to 255 bytes")),
        };
        let known_unique_id = unique_id.as_ref().ok().cloned().flatten();
        let known_method = method.as_ref().ok().cloned();
        let fail = |error| DecodeError {
            call: call.clone(),
            unique_id: known_unique_id.clone(),
            method: known_method.clone(),
            error,
        };
        if let Some(error) = call_error {
            return Err(fail(error));
        }
        let unique_id = unique_id.map_err(fail)?;
        let method = method.map_err(fail)?;
        let version = check_version(&message).map_err(fail)?;
        if !message.get("namespace").is_none_or(Value::is_null) {
            return Err(fail(bad(
                "namespace",
                "null: Trove's guest API has no namespace",
            )));
        }
        let args = match message.remove("args") {
            None => Map::new(),
            Some(Value::Object(args)) => args,
            Some(_) => return Err(fail(bad("args", "a JSON object"))),
        };
        let (context, args) = match &self.keyed {
            None => (Context::take_prefixed(&mut message), args),
            Some(keyed) => self
                .open_encrypted(keyed, &method, unique_id.as_ref(), &message, args)
                .map_err(fail)?,
        };
        Ok(Request {
            method,
            args,
            version,
            unique_id,
            call,
            context,
        })
    }

    /// Checks an encrypted message against the memory of ciphertext, then
    /// decrypts the context and every argument.
    ///
    /// Every value is decrypted and parsed even after one failed, and a
    /// failure of any kind is the same error: how a blob fails (its padding,
    /// its JSON) must not be observable, in what the sender is told or in
    /// how long the agent takes.
    fn open_encrypted(
        &self,
        keyed: &Keyed,
        method: &str,
        unique_id: Option<&WireId>,
        message: &Map<String, Value>,
        args: Map<String, Value>,
    ) -> Result<(Context, Map<String, Value>), RpcError> {
        let mut seal = Seal::new(method, unique_id.map(WireId::as_str));
        let context_key = format!("{PREFIX}context");
        let context_value = message.get(&context_key).cloned().unwrap_or(Value::Null);
        let context_raw = blob_of(&context_value);
        if let Ok(raw) = &context_raw {
            seal.add(&context_key, raw);
        }
        let raws: Vec<(String, Value, Blob)> = args
            .into_iter()
            .map(|(name, value)| {
                let raw = blob_of(&value);
                if let Ok(raw) = &raw {
                    seal.add(&name, raw);
                }
                (name, value, raw)
            })
            .collect();
        if !seal.is_empty() && keyed.guard.check(&seal) == Verdict::Reused {
            return Err(RpcError::Reused);
        }
        let mut first_failure: Option<(String, &'static str)> = None;
        let mut failed = |what: &dyn Fn() -> String, reason| {
            if first_failure.is_none() {
                first_failure = Some((what(), reason));
            }
        };
        let context = match open(&keyed.crypto, context_raw) {
            Ok(Value::Object(fields)) => Context::from_map(fields),
            other => {
                let reason = other
                    .err()
                    .unwrap_or("decrypted context is not a JSON object");
                if !self.allow_plaintext {
                    failed(&|| "the context".to_owned(), reason);
                }
                // Trove keeps the raw fields then.
                Context::from_prefixed(message)
            }
        };
        let mut opened = Map::new();
        for (name, value, raw) in raws {
            match open(&keyed.crypto, raw) {
                Ok(v) => {
                    opened.insert(name, v);
                }
                Err(reason) => {
                    if !self.allow_plaintext {
                        failed(&|| format!("argument {name:?}"), reason);
                    }
                    opened.insert(name, value);
                }
            }
        }
        match first_failure {
            None => Ok((context, opened)),
            Some((what, reason)) => Err(RpcError::Undecryptable { what, reason }),
        }
    }

    /// The final reply to a call, in the oslo 2.0 envelope. A result is encrypted
    /// when a key is set (`null` too, as Trove does); a failure never is.
    ///
    /// The result goes to text straight from its `Serialize` impl, so a
    /// listing never exists as a `Value` tree; one that cannot be written
    /// (serde's own refusal, such as a map key that is not a string) is
    /// answered as a failure saying so rather than left unanswered.
    pub fn encode_reply<T: Serialize + ?Sized>(
        &self,
        msg_id: &WireId,
        outcome: Result<&T, &Failure>,
    ) -> Vec<u8> {
        let value = match outcome {
            Ok(value) => value,
            Err(failure) => return self.encode_failure(msg_id, failure),
        };
        let text = match pyjson::to_text(value) {
            Ok(text) => Zeroizing::new(text),
            Err(e) => {
                let failure = Failure::new(
                    WireClass::GuestError,
                    format!("the answer could not be encoded: {e}"),
                );
                return self.encode_failure(msg_id, &failure);
            }
        };
        match &self.keyed {
            None => reply(msg_id.as_str(), &text, &Value::Null),
            Some(keyed) => {
                let sealed = Value::String(keyed.encrypt(text.as_bytes()));
                reply(msg_id.as_str(), &pyjson::dumps(&sealed), &Value::Null)
            }
        }
    }

    /// The final reply to a call that failed.
    pub fn encode_failure(&self, msg_id: &WireId, failure: &Failure) -> Vec<u8> {
        reply(msg_id.as_str(), "null", &Value::String(failure.to_wire()))
    }

    /// A cast to the conductor (`notify_end`, `notify_exc_info`, `heartbeat`),
    /// version `"1.0"`, `context` as `_context_*` keys. With a key, as Trove's
    /// `ConductorGuestSerializer` does it: each argument value becomes the JSON
    /// string `{"entity": "<blob>", "csz-instance-id": "<guest_id>"}` and the context
    /// becomes `_context_context` (a blob) plus `_context_csz-instance-id`.
    pub fn encode_cast(
        &self,
        method: &str,
        args: Map<String, Value>,
        context: &Context,
    ) -> Vec<u8> {
        let args = match &self.keyed {
            None => args,
            Some(keyed) => args
                .into_iter()
                .map(|(name, value)| {
                    let text = Zeroizing::new(pyjson::dumps(&value));
                    let entity = self.wrap_entity(keyed.encrypt(text.as_bytes()));
                    (name, Value::String(entity))
                })
                .collect(),
        };
        let method = Value::String(method.into());
        let args = Value::Object(args);
        let version = Value::String(VERSION.into());
        let unique_id = Value::String(new_unique_id());
        // Members as `write_object` writes them, the context's keys written
        // with their prefix in place rather than joined into new strings.
        let mut inner = String::with_capacity(2048);
        inner.push('{');
        let mut first = true;
        let mut member = |out: &mut String, prefix: &str, key: &str, value: &Value| {
            if !std::mem::take(&mut first) {
                out.push_str(", ");
            }
            pyjson::write_str_prefixed(out, prefix, key);
            out.push_str(": ");
            pyjson::write_value(out, value);
        };
        member(&mut inner, "", "method", &method);
        member(&mut inner, "", "args", &args);
        member(&mut inner, "", "version", &version);
        member(&mut inner, "", "_unique_id", &unique_id);
        match &self.keyed {
            None => {
                for (field, value) in context.as_map() {
                    member(&mut inner, PREFIX, field, value);
                }
            }
            Some(keyed) => {
                let text = Zeroizing::new(pyjson::dumps(&Value::Object(context.as_map().clone())));
                let keyed_context = Value::String(keyed.encrypt(text.as_bytes()));
                let guest_id = Value::String(self.guest_id.clone());
                member(&mut inner, PREFIX, "context", &keyed_context);
                member(&mut inner, PREFIX, "csz-instance-id", &guest_id);
            }
        }
        inner.push('}');
        envelope::seal(&inner)
    }

    /// `ConductorGuestSerializer`'s wrapper: the conductor finds the instance key
    /// by `csz-instance-id`.
    pub(crate) fn wrap_entity(&self, blob: String) -> String {
        let blob = Value::String(blob);
        let guest = Value::String(self.guest_id.clone());
        let mut out = String::new();
        pyjson::write_object(&mut out, [("entity", &blob), ("csz-instance-id", &guest)]);
        out
    }
}

impl Keyed {
    /// A fresh blob, its blocks remembered so that nobody can build a
    /// message from them.
    fn encrypt(&self, plaintext: &[u8]) -> String {
        let raw = self.crypto.encrypt_raw(plaintext);
        self.guard.sent(&raw);
        STANDARD.encode(raw)
    }
}

/// A value's blob bytes, or why it holds none.
type Blob = Result<Vec<u8>, &'static str>;

/// A value's blob bytes: it must be a string holding a well-formed blob.
fn blob_of(value: &Value) -> Blob {
    match value {
        Value::String(s) => parse_blob(s),
        Value::Null => Err("not encrypted: absent or null"),
        _ => Err("not encrypted"),
    }
}

/// Decrypts a blob and parses its JSON. Both steps run whatever the padding
/// says, so a bad one costs what a good one does.
fn open(crypto: &Crypto, raw: Blob) -> Result<Value, &'static str> {
    let raw = raw?;
    let (plain, padded) = crypto.open(&raw);
    let parsed = serde_json::from_slice::<Value>(&plain);
    match (padded, parsed) {
        (true, Ok(v)) => Ok(v),
        (false, _) => Err("bad padding"),
        (true, Err(_)) => Err("decrypted text is not JSON"),
    }
}

fn bad(field: &'static str, expected: &'static str) -> RpcError {
    RpcError::BadField { field, expected }
}

/// `_msg_id`, `_reply_q`, `_timeout` (see `call`). Returns the call even
/// alongside an error when the id and queue are usable, so the caller can be
/// told; without them there is no call to answer, and the error stands alone.
fn read_call(message: &Map<String, Value>) -> (Option<Call>, Option<RpcError>) {
    let msg_id = match message.get("_msg_id") {
        None | Some(Value::Null) => return (None, None),
        // oslo sends no reply for an empty id either.
        Some(Value::String(id)) if id.is_empty() => return (None, None),
        Some(Value::String(id)) => match WireId::parse(id) {
            Some(id) => id,
            None => {
                let expected = "1 to 255 bytes of printable ASCII";
                return (None, Some(bad("_msg_id", expected)));
            }
        },
        Some(_) => return (None, Some(bad("_msg_id", "a string"))),
    };
    let reply_q = match message.get("_reply_q") {
        Some(Value::String(q)) => match ReplyQueue::parse(q) {
            Some(q) => q,
            None => {
                let expected = "a queue name of 1 to 255 bytes without control characters";
                return (None, Some(bad("_reply_q", expected)));
            }
        },
        _ => return (None, Some(bad("_reply_q", "a queue name on a call"))),
    };
    let (timeout, error) = match message.get("_timeout") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Number(n)) => (call::timeout(n), None),
        Some(_) => (None, Some(bad("_timeout", "a number of seconds or null"))),
    };
    let call = Call {
        msg_id,
        reply_q,
        timeout,
    };
    (Some(call), error)
}

/// `_unique_id`, when present: a [`WireId`].
fn read_unique_id(message: &Map<String, Value>) -> Result<Option<WireId>, RpcError> {
    match message.get("_unique_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => WireId::parse(s)
            .map(Some)
            .ok_or_else(|| bad("_unique_id", "1 to 255 bytes of printable ASCII")),
        Some(_) => Err(bad("_unique_id", "a string")),
    }
}

fn opt_string(
    message: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, RpcError> {
    match message.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(field, "a string")),
    }
}

/// Refuses a major other than 1, as oslo's dispatcher does for a version no
/// endpoint implements. A missing version means 1.0 to oslo.
fn check_version(message: &Map<String, Value>) -> Result<Option<String>, RpcError> {
    let expected = "a string like \"1.0\"";
    let version = opt_string(message, "version").map_err(|_| bad("version", expected))?;
    if version.as_ref().is_some_and(|v| v.len() > 32) {
        return Err(bad("version", expected));
    }
    if let Some(v) = &version {
        let major = v
            .split('.')
            .next()
            .and_then(|m| m.trim().parse::<u64>().ok());
        if major != Some(1) {
            return Err(RpcError::UnsupportedVersion(v.clone()));
        }
    }
    Ok(version)
}

/// A final reply whose `result` is already JSON text. The inner message
/// is wiped once sealed: without RPC encryption it holds any password the
/// result hands over.
fn reply(msg_id: &str, result: &str, failure: &Value) -> Vec<u8> {
    // Room for every member, escapes included, so the buffer holding a
    // result in the clear is never moved (and its old copy left unwiped).
    let room = result.len() + 2 * msg_id.len() + 192;
    let mut inner = Zeroizing::new(String::with_capacity(room));
    inner.push_str("{\"result\": ");
    inner.push_str(result);
    for (key, value) in [
        ("failure", failure),
        ("ending", &Value::Bool(true)),
        ("_msg_id", &Value::String(msg_id.into())),
        ("_unique_id", &Value::String(new_unique_id())),
    ] {
        inner.push_str(", ");
        pyjson::write_str(&mut inner, key);
        inner.push_str(": ");
        pyjson::write_value(&mut inner, value);
    }
    inner.push('}');
    envelope::seal(&inner)
}
