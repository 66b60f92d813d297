//! `Codec::decode_request` on arbitrary bytes, without an RPC key: the first
//! thing the agent does with every delivery from the broker.
//!
//! Besides "never panics", checks what the agent then does with the outcome:
//! a failure reply (for a refused call) and a conductor cast carrying the
//! request's context back are always well-formed oslo envelopes.
#![no_main]

use std::sync::LazyLock;

use guestagent::testkit::Codec;
use libfuzzer_sys::fuzz_target;

mod common;

/// The agent's default `limits.max_message_bytes`.
static CODEC: LazyLock<Codec> =
    LazyLock::new(|| Codec::new(None, false, 1 << 20, "fuzz-guest".into()));
/// A tiny limit, so the size check is crossed both ways.
static SMALL: LazyLock<Codec> = LazyLock::new(|| Codec::new(None, false, 256, "fuzz-guest".into()));

fuzz_target!(|data: &[u8]| {
    common::decode_and_answer(&CODEC, data);
    let _ = SMALL.decode_request(data);
});
