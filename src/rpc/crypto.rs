//! Trove's RPC encryption (`instance_rpc_encr_key`, trove-wire §6), as
//! `trove.common.crypto_utils` does it:
//!
//! - AES key: the 32 ASCII bytes of the lowercase hex MD5 of the configured key's
//!   UTF-8 bytes (so AES-256, though with only 128 bits of strength);
//! - blob: `base64(IV ‖ AES-256-CBC(PKCS#7-padded plaintext))`, IV 16 random bytes,
//!   standard alphabet with `=` padding.
//!
//! There is no MAC. Trove's `unpad_after_decryption` drops as many bytes as the
//! last byte says without checking them, and its serializers treat anything that
//! fails to decrypt or to parse as plaintext, so a wrong key silently yields the
//! blob itself as the value (testdata `trove_lenient_decrypt` shows it). Here
//! the padding is checked and every failure is an error; the caller decides
//! whether plaintext is acceptable.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::{NoPadding, Pkcs7};
use cbc::cipher::{BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit};
use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};
use zeroize::{Zeroize, Zeroizing};

#[cfg(any(test, feature = "testkit"))]
use super::RpcError;

const BLOCK: usize = 16;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Encrypts and decrypts Trove RPC blobs with one instance key.
///
/// Holds only the derived AES key, zeroized on drop; `Debug` never shows it.
pub struct Crypto {
    key: Zeroizing<[u8; 32]>,
}

impl Crypto {
    /// Derives the AES key from Trove's configured `instance_rpc_encr_key`.
    pub fn new(key: &SecretString) -> Self {
        let mut digest = Md5::digest(key.expose_secret().as_bytes());
        let mut derived = Zeroizing::new([0u8; 32]);
        for (i, byte) in digest.iter().enumerate() {
            derived[2 * i] = HEX[usize::from(byte >> 4)];
            derived[2 * i + 1] = HEX[usize::from(byte & 0xf)];
        }
        digest.as_mut_slice().zeroize();
        Self { key: derived }
    }

    /// Encrypts `plaintext` under a fresh random IV and returns the base64
    /// blob, as Trove's control plane does (for the tests that play it).
    #[cfg(any(test, feature = "testkit"))]
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        self.encrypt_with_iv(self.fresh_iv(), plaintext)
    }

    /// Decrypts a base64 blob. Refuses bad base64, a blob shorter than IV plus one
    /// block, a ciphertext that is not whole blocks, and bad PKCS#7 padding (what a
    /// wrong key almost always produces).
    #[cfg(any(test, feature = "testkit"))]
    pub fn decrypt(&self, blob: &str) -> Result<Zeroizing<Vec<u8>>, RpcError> {
        let fail = |reason| RpcError::Undecryptable {
            what: "value".into(),
            reason,
        };
        let raw = parse_blob(blob).map_err(fail)?;
        let (plain, padded) = self.open(&raw);
        if padded {
            Ok(plain)
        } else {
            Err(fail("bad padding"))
        }
    }

    /// Decrypts a blob's bytes (see [`parse_blob`]) and strips its padding.
    /// Returns the plaintext and whether the padding was good; with bad
    /// padding the whole decrypted buffer comes back, so that callers can
    /// go on exactly as with a good one, and the padding check takes the
    /// same time whatever the last block holds. There is no error to tell a
    /// wrong padding from anything else that can go wrong with a blob.
    pub(crate) fn open(&self, raw: &[u8]) -> (Zeroizing<Vec<u8>>, bool) {
        let Some((iv, ciphertext)) = raw.split_first_chunk::<BLOCK>() else {
            return (Zeroizing::new(Vec::new()), false);
        };
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let whole = buf.len() - buf.len() % BLOCK;
        buf.truncate(whole);
        if cbc::Decryptor::<Aes256>::new(self.key_bytes().into(), iv.into())
            .decrypt_padded::<NoPadding>(&mut buf)
            .is_err()
        {
            return (buf, false);
        }
        let (pad, good) = pkcs7_padding(&buf);
        let keep = buf.len().saturating_sub(pad);
        buf.truncate(keep);
        (buf, good)
    }

    fn key_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    #[cfg(any(test, feature = "testkit"))]
    pub(crate) fn encrypt_with_iv(&self, iv: [u8; BLOCK], plaintext: &[u8]) -> String {
        STANDARD.encode(self.raw_with_iv(iv, plaintext))
    }

    /// Encrypts under a fresh IV and returns the blob's bytes (IV and
    /// ciphertext), before base64.
    pub(crate) fn encrypt_raw(&self, plaintext: &[u8]) -> Vec<u8> {
        self.raw_with_iv(self.fresh_iv(), plaintext)
    }

    fn raw_with_iv(&self, iv: [u8; BLOCK], plaintext: &[u8]) -> Vec<u8> {
        let ciphertext = cbc::Encryptor::<Aes256>::new(self.key_bytes().into(), (&iv).into())
            .encrypt_padded_vec::<Pkcs7>(plaintext);
        let mut raw = Vec::with_capacity(BLOCK + ciphertext.len());
        raw.extend_from_slice(&iv);
        raw.extend_from_slice(&ciphertext);
        raw
    }

    fn fresh_iv(&self) -> [u8; BLOCK] {
        let mut iv = [0u8; BLOCK];
        match getrandom::fill(&mut iv) {
            Ok(()) => iv,
            Err(error) => {
                tracing::error!(%error, "OS random source failed; deriving the IV from a nonce");
                self.nonce_iv()
            }
        }
    }

    /// An IV that is unpredictable without the key and unique per message: the
    /// block cipher applied to a nonce (NIST SP 800-38A, appendix C). Only used if
    /// the OS random source fails, which beats refusing to answer or panicking.
    fn nonce_iv(&self) -> [u8; BLOCK] {
        let mut block = unique_nonce();
        let cipher = Aes256::new(self.key_bytes().into());
        cipher.encrypt_block((&mut block).into());
        block
    }
}

/// A blob's bytes, base64 undone: refuses bad base64, fewer than IV plus one
/// block, and a ciphertext that is not whole blocks. The reasons are for the
/// agent's own log only (see `RpcError::Undecryptable`).
pub(crate) fn parse_blob(blob: &str) -> Result<Vec<u8>, &'static str> {
    let raw = STANDARD.decode(blob).map_err(|_| "not base64")?;
    match raw.len().checked_sub(BLOCK) {
        None => Err("shorter than its IV"),
        Some(0) => Err("no ciphertext after the IV"),
        Some(n) if n % BLOCK != 0 => Err("ciphertext is not a multiple of 16 bytes"),
        Some(_) => Ok(raw),
    }
}

/// PKCS#7: the padding length of a decrypted buffer and whether it is valid,
/// computed without branching on the bytes (only the last block is read).
fn pkcs7_padding(buf: &[u8]) -> (usize, bool) {
    let Some(last) = buf.last_chunk::<BLOCK>() else {
        return (0, false);
    };
    let n = last[BLOCK - 1];
    let mut bad = u8::from(n == 0) | u8::from(usize::from(n) > BLOCK);
    for (i, byte) in last.iter().rev().enumerate() {
        // i < n: this byte is padding and must equal n.
        let in_pad = u8::from(i < usize::from(n));
        bad |= in_pad & u8::from(*byte != n);
    }
    if bad == 0 {
        (usize::from(n), true)
    } else {
        (0, false)
    }
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Crypto { key: [REDACTED] }")
    }
}

/// 16 bytes that never repeat within a process and almost surely not across
/// restarts: wall-clock nanoseconds and a process-wide counter.
pub(crate) fn unique_nonce() -> [u8; BLOCK] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut nonce = [0u8; BLOCK];
    nonce[..8].copy_from_slice(&(nanos as u64).to_be_bytes());
    nonce[8..].copy_from_slice(&(count ^ u64::from(std::process::id()) << 40).to_be_bytes());
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Blobs made by the real `trove.common.crypto_utils` with fixed IVs:
    /// `/tmp/pyvenv/bin/python src/rpc/testdata/make_vectors.py`.
    fn vectors() -> Value {
        serde_json::from_str(include_str!("testdata/trove_vectors.json")).unwrap()
    }

    fn crypto(key: &str) -> Crypto {
        Crypto::new(&SecretString::from(key.to_owned()))
    }

    fn iv(hex: &str) -> [u8; 16] {
        let mut iv = [0u8; 16];
        for (i, byte) in iv.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        iv
    }

    #[test]
    fn matches_trove_crypto_utils_byte_for_byte() {
        let v = vectors();
        let cases = v["crypto"].as_array().unwrap();
        assert_eq!(cases.len(), 28);
        for case in cases {
            let c = crypto(case["key"].as_str().unwrap());
            let plaintext = case["plaintext"].as_str().unwrap().as_bytes();
            let blob = case["blob"].as_str().unwrap();
            let iv = iv(case["iv_hex"].as_str().unwrap());
            assert_eq!(c.encrypt_with_iv(iv, plaintext), blob, "{case}");
            assert_eq!(c.decrypt(blob).unwrap().as_slice(), plaintext, "{case}");
        }
    }

    #[test]
    fn decrypts_secure_serializer_entities() {
        let v = vectors();
        let c = crypto("the-instance-key");
        for case in v["entities"].as_array().unwrap() {
            let plain = c.decrypt(case["blob"].as_str().unwrap()).unwrap();
            let value: Value = serde_json::from_slice(&plain).unwrap();
            assert_eq!(value, case["value"]);
        }
    }

    #[test]
    fn round_trip_with_random_iv() {
        let c = crypto("k");
        let a = c.encrypt(b"{\"x\": 1}");
        let b = c.encrypt(b"{\"x\": 1}");
        assert_ne!(a, b, "IVs must differ");
        assert_eq!(c.decrypt(&a).unwrap().as_slice(), b"{\"x\": 1}");
    }

    #[test]
    fn wrong_key_is_an_error_never_plaintext() {
        let v = vectors();
        let wrong = crypto("some-other-key");
        let mut failures = 0;
        for case in v["entities"].as_array().unwrap() {
            let blob = case["blob"].as_str().unwrap();
            // Trove itself hands such a blob on as if it were the plaintext value.
            match wrong.decrypt(blob) {
                Err(RpcError::Undecryptable { .. }) => failures += 1,
                Err(other) => panic!("unexpected {other}"),
                // Random padding can pass 1 time in ~256; the JSON check then catches it.
                Ok(garbage) => assert!(serde_json::from_slice::<Value>(&garbage).is_err()),
            }
        }
        assert!(failures >= 9);
        let lenient = &v["trove_lenient_decrypt"][0];
        assert_eq!(lenient["blob"], lenient["trove_returns"]);
    }

    fn reason(result: Result<Zeroizing<Vec<u8>>, RpcError>) -> &'static str {
        match result {
            Err(RpcError::Undecryptable { reason, .. }) => reason,
            other => panic!("expected a decrypt error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_blobs_are_refused() {
        let c = crypto("the-instance-key");
        let good = c.encrypt(b"\"alice\"");
        let raw = STANDARD.decode(&good).unwrap();
        assert_eq!(reason(c.decrypt("not base64!")), "not base64");
        assert_eq!(reason(c.decrypt(&good[..good.len() - 1])), "not base64");
        assert_eq!(
            reason(c.decrypt(&STANDARD.encode(&raw[..10]))),
            "shorter than its IV"
        );
        assert_eq!(
            reason(c.decrypt(&STANDARD.encode(&raw[..16]))),
            "no ciphertext after the IV"
        );
        assert_eq!(
            reason(c.decrypt(&STANDARD.encode(&raw[..raw.len() - 1]))),
            "ciphertext is not a multiple of 16 bytes"
        );
        let mut flipped = raw.clone();
        let last = flipped.len() - 1;
        flipped[last - 16] ^= 0x01; // alters the final padding byte via CBC
        assert_eq!(reason(c.decrypt(&STANDARD.encode(&flipped))), "bad padding");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let c = crypto("hunter2-super-secret");
        let shown = format!("{c:?}");
        assert_eq!(shown, "Crypto { key: [REDACTED] }");
        assert!(!shown.contains("hunter2"));
        let derived = String::from_utf8(c.key.to_vec()).unwrap();
        assert!(!shown.contains(&derived));
    }

    #[test]
    fn nonce_ivs_are_unique_and_decryptable() {
        let c = crypto("k");
        let a = c.nonce_iv();
        let b = c.nonce_iv();
        assert_ne!(a, b);
        let blob = c.encrypt_with_iv(a, b"[]");
        assert_eq!(c.decrypt(&blob).unwrap().as_slice(), b"[]");
    }
}
