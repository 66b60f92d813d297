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

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::context::PREFIX;
use super::{
    Call, Context, Crypto, DecodeError, Failure, Request, RpcError, envelope, new_unique_id, pyjson,
};

/// The version this agent sends its casts with and whose major it serves.
const VERSION: &str = "1.0";

/// Everything decode and encode need; built once at start-up.
#[derive(Debug)]
pub struct Codec {
    crypto: Option<Crypto>,
    allow_plaintext: bool,
    max_bytes: usize,
    guest_id: String,
}

impl Codec {
    /// `crypto`: Trove's instance key, if set. `allow_plaintext`: with a key, accept
    /// values that are not (or do not decrypt as) blobs, as Trove itself silently
    /// does; meant only for migrating. `max_bytes`: the largest body accepted.
    /// `guest_id`: this instance's id, named in encrypted conductor casts.
    pub fn new(
        crypto: Option<Crypto>,
        allow_plaintext: bool,
        max_bytes: usize,
        guest_id: String,
    ) -> Self {
        Self {
            crypto,
            allow_plaintext,
            max_bytes,
            guest_id,
        }
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
        let unique_id = opt_string(&message, "_unique_id");
        let method = match message.get("method") {
            None | Some(Value::Null) => Err(RpcError::MissingMethod),
            Some(Value::String(m)) => Ok(m.clone()),
            Some(_) => Err(bad("method", "a string")),
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
        let context = self.open_context(&message).map_err(fail)?;
        let args = match message.remove("args") {
            None => Map::new(),
            Some(Value::Object(args)) => args,
            Some(_) => return Err(fail(bad("args", "a JSON object"))),
        };
        let args = match &self.crypto {
            None => args,
            Some(crypto) => args
                .into_iter()
                .map(|(name, value)| {
                    let opened = self.open_value(crypto, value, || format!("argument `{name}`"));
                    opened.map(|value| (name, value))
                })
                .collect::<Result<_, _>>()
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

    /// The final reply to a call, in the oslo 2.0 envelope. A result is encrypted
    /// when a key is set (`null` too, as Trove does); a failure never is.
    pub fn encode_reply(&self, msg_id: &str, outcome: Result<&Value, &Failure>) -> Vec<u8> {
        let sealed;
        let (result, failure) = match outcome {
            Ok(value) => match &self.crypto {
                None => (value, Value::Null),
                Some(crypto) => {
                    let text = Zeroizing::new(pyjson::dumps(value));
                    sealed = Value::String(crypto.encrypt(text.as_bytes()));
                    (&sealed, Value::Null)
                }
            },
            Err(failure) => (&Value::Null, Value::String(failure.to_wire())),
        };
        reply(msg_id, result, &failure, true)
    }

    /// A call-monitor heartbeat (`"ending": false`), to send every `_timeout / 2`
    /// seconds while a call runs. Never encrypted: oslo sends a bare `null`.
    pub fn encode_heartbeat(&self, msg_id: &str) -> Vec<u8> {
        reply(msg_id, &Value::Null, &Value::Null, false)
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
        let args = match &self.crypto {
            None => args,
            Some(crypto) => args
                .into_iter()
                .map(|(name, value)| (name, Value::String(self.conductor_entity(crypto, &value))))
                .collect(),
        };
        let mut members: Vec<(String, Value)> = vec![
            ("method".into(), Value::String(method.into())),
            ("args".into(), Value::Object(args)),
            ("version".into(), Value::String(VERSION.into())),
            ("_unique_id".into(), Value::String(new_unique_id())),
        ];
        match &self.crypto {
            None => members.extend(
                context
                    .as_map()
                    .iter()
                    .map(|(field, value)| (format!("{PREFIX}{field}"), value.clone())),
            ),
            Some(crypto) => {
                let text = Zeroizing::new(pyjson::dumps(&Value::Object(context.as_map().clone())));
                members.push((
                    format!("{PREFIX}context"),
                    Value::String(crypto.encrypt(text.as_bytes())),
                ));
                members.push((
                    format!("{PREFIX}csz-instance-id"),
                    Value::String(self.guest_id.clone()),
                ));
            }
        }
        let mut inner = String::new();
        pyjson::write_object(&mut inner, members.iter().map(|(k, v)| (k, v)));
        envelope::seal(&inner)
    }

    fn conductor_entity(&self, crypto: &Crypto, value: &Value) -> String {
        let text = Zeroizing::new(pyjson::dumps(value));
        self.wrap_entity(crypto.encrypt(text.as_bytes()))
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

    fn open_context(&self, message: &Map<String, Value>) -> Result<Context, RpcError> {
        let Some(crypto) = &self.crypto else {
            return Ok(Context::from_prefixed(message));
        };
        let what = || "the context".to_owned();
        match message.get(&format!("{PREFIX}context")) {
            Some(blob @ Value::String(_)) => match self.open_value(crypto, blob.clone(), what)? {
                Value::Object(fields) => Ok(Context::from_map(fields)),
                // Only reachable with allow_plaintext: Trove keeps the raw fields then.
                _ if self.allow_plaintext => Ok(Context::from_prefixed(message)),
                _ => Err(RpcError::Decrypt {
                    what: what(),
                    reason: "decrypted context is not a JSON object",
                }),
            },
            _ if self.allow_plaintext => Ok(Context::from_prefixed(message)),
            _ => Err(RpcError::Plaintext { what: what() }),
        }
    }

    /// Decrypts one value; with `allow_plaintext`, anything that does not decrypt
    /// is taken as it is, exactly as Trove's `SecureSerializer` does.
    fn open_value(
        &self,
        crypto: &Crypto,
        value: Value,
        what: impl Fn() -> String,
    ) -> Result<Value, RpcError> {
        let Value::String(blob) = &value else {
            return if self.allow_plaintext {
                Ok(value)
            } else {
                Err(RpcError::Plaintext { what: what() })
            };
        };
        let opened = crypto
            .decrypt(blob)
            .map_err(|error| match error {
                RpcError::Decrypt { reason, .. } => reason,
                _ => "unexpected error",
            })
            .and_then(|plain| {
                serde_json::from_slice::<Value>(&plain).map_err(|_| "decrypted text is not JSON")
            });
        match opened {
            Ok(decrypted) => Ok(decrypted),
            Err(_) if self.allow_plaintext => Ok(value),
            Err(reason) => Err(RpcError::Decrypt {
                what: what(),
                reason,
            }),
        }
    }
}

fn bad(field: &'static str, expected: &'static str) -> RpcError {
    RpcError::BadField { field, expected }
}

/// `_msg_id`, `_reply_q`, `_timeout`. Returns the call even alongside an error
/// when the id and queue were readable, so the caller can be told.
fn read_call(message: &Map<String, Value>) -> (Option<Call>, Option<RpcError>) {
    let msg_id = match message.get("_msg_id") {
        None | Some(Value::Null) => return (None, None),
        // oslo sends no reply for an empty id either.
        Some(Value::String(id)) if id.is_empty() => return (None, None),
        Some(Value::String(id)) => id.clone(),
        Some(_) => return (None, Some(bad("_msg_id", "a string"))),
    };
    let reply_q = match message.get("_reply_q") {
        Some(Value::String(q)) if !q.is_empty() => q.clone(),
        _ => return (None, Some(bad("_reply_q", "a queue name on a call"))),
    };
    let (timeout, error) = match message.get("_timeout") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Number(n)) => (n.as_f64(), None),
        Some(_) => (None, Some(bad("_timeout", "a number of seconds or null"))),
    };
    let call = Call {
        msg_id,
        reply_q,
        timeout,
    };
    (Some(call), error)
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
    let version =
        opt_string(message, "version").map_err(|_| bad("version", "a string like \"1.0\""))?;
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

fn reply(msg_id: &str, result: &Value, failure: &Value, ending: bool) -> Vec<u8> {
    let mut inner = String::new();
    pyjson::write_object(
        &mut inner,
        [
            ("result", result),
            ("failure", failure),
            ("ending", &Value::Bool(ending)),
            ("_msg_id", &Value::String(msg_id.into())),
            ("_unique_id", &Value::String(new_unique_id())),
        ],
    );
    envelope::seal(&inner)
}
