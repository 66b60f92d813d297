//! Trove's RPC encryption on hostile input: `Codec::decode_request` with an
//! instance key (strict, and with `allow_plaintext`) on arbitrary bytes,
//! `Crypto::decrypt` on arbitrary strings, and the encrypt/decrypt round trip.
#![no_main]

use std::sync::LazyLock;

use guestagent::testkit::{Codec, Crypto};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

mod common;

/// The key of `src/rpc/testdata/wire_encrypted.json`, so the seed corpus
/// (messages made by Trove's own client with it) decrypts.
const KEY: &str = "the-instance-key";

fn crypto() -> Crypto {
    Crypto::new(&SecretString::from(KEY))
}

static CRYPTO: LazyLock<Crypto> = LazyLock::new(crypto);
static STRICT: LazyLock<Codec> =
    LazyLock::new(|| Codec::new(Some(crypto()), false, 1 << 20, "fuzz-guest".into()));
static LENIENT: LazyLock<Codec> =
    LazyLock::new(|| Codec::new(Some(crypto()), true, 1 << 20, "fuzz-guest".into()));

fuzz_target!(|data: &[u8]| {
    common::decode_and_answer(&STRICT, data);
    common::decode_and_answer(&LENIENT, data);

    // Any string as a blob: refused or decrypted, and what decrypts
    // re-encrypts to something that decrypts to the same bytes.
    let text = String::from_utf8_lossy(data);
    for blob in [text.as_ref(), text.trim()] {
        if let Ok(plain) = CRYPTO.decrypt(blob) {
            let again = CRYPTO.encrypt(&plain);
            let back = CRYPTO.decrypt(&again).expect("own blob must decrypt");
            assert_eq!(&back[..], &plain[..]);
        }
    }

    // Any bytes as plaintext: the round trip is exact.
    let blob = CRYPTO.encrypt(data);
    let back = CRYPTO.decrypt(&blob).expect("own blob must decrypt");
    assert_eq!(&back[..], data);
});
