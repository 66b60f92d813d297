//! Temporary stand-in for the rpc module (replaced by the real one).
#![allow(missing_docs, missing_debug_implementations, unused_variables)]
use serde_json::{Map, Value};
#[derive(Debug, Clone)]
pub struct Call {
    pub msg_id: String,
    pub reply_q: String,
    pub timeout: Option<f64>,
}
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub args: Map<String, Value>,
    pub version: Option<String>,
    pub unique_id: Option<String>,
    pub call: Option<Call>,
    pub context: Context,
}
#[derive(Debug, Clone, Default)]
pub struct Context(Map<String, Value>);
impl Context {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
    pub fn request_id(&self) -> Option<&str> {
        None
    }
    pub fn trove_notification(&self) -> Option<&Value> {
        None
    }
    pub fn empty() -> Self {
        Context::default()
    }
}
#[derive(Debug)]
pub struct Crypto;
impl Crypto {
    pub fn new(key: &secrecy::SecretString) -> Self {
        Crypto
    }
}
#[derive(Debug)]
pub struct Codec;
impl Codec {
    pub fn new(
        crypto: Option<Crypto>,
        allow_plaintext: bool,
        max_bytes: usize,
        guest_id: String,
    ) -> Self {
        Codec
    }
    pub fn decode_request(&self, body: &[u8]) -> Result<Request, DecodeError> {
        unimplemented!()
    }
    pub fn encode_reply(&self, msg_id: &str, outcome: Result<&Value, &Failure>) -> Vec<u8> {
        unimplemented!()
    }
    pub fn encode_cast(
        &self,
        method: &str,
        args: Map<String, Value>,
        context: &Context,
    ) -> Vec<u8> {
        unimplemented!()
    }
}
#[derive(Debug)]
pub struct DecodeError {
    pub call: Option<Call>,
    pub unique_id: Option<String>,
    pub method: Option<String>,
    pub error: RpcError,
}
#[derive(Debug, thiserror::Error)]
#[error("rpc")]
pub struct RpcError;
impl RpcError {
    pub fn failure(&self) -> Failure {
        Failure
    }
}
#[derive(Debug, Clone)]
pub struct Failure;
impl Failure {
    pub fn bad_request(m: impl Into<String>) -> Self {
        Failure
    }
    pub fn user_not_found(m: impl Into<String>) -> Self {
        Failure
    }
    pub fn database_not_found(m: impl Into<String>) -> Self {
        Failure
    }
    pub fn unprocessable(m: impl Into<String>) -> Self {
        Failure
    }
    pub fn not_supported(m: impl Into<String>) -> Self {
        Failure
    }
    pub fn guest_error(m: impl Into<String>) -> Self {
        Failure
    }
    pub fn no_such_method(m: impl Into<String>) -> Self {
        Failure
    }
    pub fn class(&self) -> &str {
        ""
    }
    pub fn message(&self) -> &str {
        ""
    }
}
pub fn new_unique_id() -> String {
    String::new()
}
