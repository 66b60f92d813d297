//! MySQL `caching_sha2_password` stored form ("authentication_string").
//!
//! Layout (MySQL `sql/auth/sha2_password.cc`, `Caching_sha2_password::serialize`):
//!
//! ```text
//! $A$005$<20-byte salt><43-char digest>      = 7 + 20 + 43 = 70 bytes
//!  |  |
//!  |  +-- iteration count / 1000, 3 digits (zero padded; upper-case HEX in
//!  |      current MySQL, decimal in early 8.0 — identical for 5000 -> "005")
//!  +----- digest type 'A' = SHA-256
//! ```
//!
//! The digest is the 43-character tail of SHA-256-crypt (Ulrich Drepper's
//! "$5$" algorithm) as implemented by `my_crypt_genhash`
//! (`mysys/crypt_genhash_impl.cc`), computed with the raw 20-byte salt and
//! 5000 rounds. MySQL's implementation differs from glibc's `crypt("$5$...")`
//! only in how the *setting string* is parsed (salt capped at 20 bytes
//! instead of 16; `rounds=` searched anywhere with `strstr`), not in the
//! digest computation itself — the tests below check both families of
//! vectors against the single [`sha256_crypt_digest`] core.
//!
//! Salt rules (MySQL `generate_user_salt`): random bytes `& 0x7f`, and a
//! `'\0'` or `'$'` is bumped by one. So salt bytes are in `0x01..=0x7f`,
//! never `'$'` (0x24). They are *not* guaranteed printable (control bytes
//! occur), which is why the stored form is best sent as a hex literal.

use sha2::{Digest, Sha256};

/// Length of the salt (`CRYPT_SALT_LENGTH`).
pub const SALT_LEN: usize = 20;
/// Length of the crypt-base64 digest (`STORED_SHA256_DIGEST_LENGTH`).
pub const DIGEST_LEN: usize = 43;
/// Length of the `$A$005$` prefix.
pub const PREFIX_LEN: usize = 7;
/// Total length of the stored form.
pub const STORED_LEN: usize = PREFIX_LEN + SALT_LEN + DIGEST_LEN; // 70
/// MySQL default `caching_sha2_password_digest_rounds` (`ROUNDS_DEFAULT`).
pub const DEFAULT_ROUNDS: u32 = 5000;
/// `CACHING_SHA2_PASSWORD_MAX_PASSWORD_LENGTH` (= `MAX_PLAINTEXT_LENGTH`).
/// MySQL refuses to hash or authenticate longer passwords.
pub const MAX_PASSWORD_LEN: usize = 256;
/// `MIXCHARS`.
const MIXCHARS: usize = 32;
/// crypt(3) base64 alphabet (`b64t[]` in crypt_genhash_impl.cc).
const CRYPT_B64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Prefix for the default 5000 rounds.
const PREFIX_5000: &[u8; PREFIX_LEN] = b"$A$005$";

/// Errors from this module.
#[derive(Debug)]
pub enum Error {
    /// MySQL stores an *empty* `authentication_string` for an empty
    /// password (`caching_sha2_password_generate` returns length 0); a `$A$`
    /// hash of "" would make the account unusable (the client sends an empty
    /// auth response and the server then rejects a non-empty stored string).
    EmptyPassword,
    /// Longer than [`MAX_PASSWORD_LEN`] bytes; MySQL would reject the login.
    PasswordTooLong(usize),
    /// A salt byte MySQL cannot use: `0x00` (the salt is passed as a C
    /// string), `'$'` (ends the salt inside `my_crypt_genhash`), or `>= 0x80`
    /// (not valid in the utf8 `authentication_string` column).
    InvalidSaltByte { index: usize, byte: u8 },
    /// The salt contains `rounds=`; `my_crypt_genhash` looks for that
    /// substring anywhere in the salt and could take it as a rounds override.
    SaltContainsRounds,
    /// The OS random number generator failed.
    Random(getrandom::Error),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::EmptyPassword => write!(
                f,
                "empty password: caching_sha2_password stores an empty authentication_string"
            ),
            Error::PasswordTooLong(n) => write!(
                f,
                "password is {n} bytes; caching_sha2_password accepts at most {MAX_PASSWORD_LEN}"
            ),
            Error::InvalidSaltByte { index, byte } => {
                write!(f, "salt byte {index} (0x{byte:02x}) is not usable by MySQL")
            }
            Error::SaltContainsRounds => write!(f, "salt contains \"rounds=\""),
            Error::Random(e) => write!(f, "random number generator failed: {e}"),
        }
    }
}

impl std::error::Error for Error {}

fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The SHA-256-crypt digest (steps 1–22 of Drepper's spec, exactly as
/// `my_crypt_genhash` performs them) of `password` with the raw `salt`
/// bytes and `rounds` rounds, as its 43-character crypt-base64 encoding.
///
/// No truncation or parsing is applied to `salt`: callers implementing
/// glibc `$5$` semantics must cap it at 16 bytes, MySQL caps it at 20.
pub fn sha256_crypt_digest(password: &[u8], salt: &[u8], rounds: u32) -> [u8; DIGEST_LEN] {
    let plen = password.len();
    let slen = salt.len();

    // 4.-8. B = SHA256(password || salt || password)
    let b = sha256_parts(&[password, salt, password]);

    // 1.-3., 9.-12.
    let mut ctx_a = Sha256::new();
    ctx_a.update(password);
    ctx_a.update(salt);
    let mut i = plen;
    while i > MIXCHARS {
        ctx_a.update(b);
        i -= MIXCHARS;
    }
    ctx_a.update(&b[..i]);
    let mut i = plen;
    while i > 0 {
        if i & 1 != 0 {
            ctx_a.update(b);
        } else {
            ctx_a.update(password);
        }
        i >>= 1;
    }
    let a: [u8; 32] = ctx_a.finalize().into();

    // 13.-15. DP = SHA256(password repeated plen times)
    let mut ctx_dp = Sha256::new();
    for _ in 0..plen {
        ctx_dp.update(password);
    }
    let dp: [u8; 32] = ctx_dp.finalize().into();

    // 16. P = DP repeated to plen bytes
    let mut p: Vec<u8> = dp.iter().copied().cycle().take(plen).collect();

    // 17.-19. DS = SHA256(salt repeated 16 + A[0] times)
    let mut ctx_ds = Sha256::new();
    for _ in 0..(16 + a[0] as usize) {
        ctx_ds.update(salt);
    }
    let ds: [u8; 32] = ctx_ds.finalize().into();

    // 20. S = DS repeated to slen bytes
    let s: Vec<u8> = ds.iter().copied().cycle().take(slen).collect();

    // 21. the rounds
    let mut c = a;
    for r in 0..rounds {
        let mut ctx = Sha256::new();
        if r & 1 != 0 {
            ctx.update(&p);
        } else {
            ctx.update(c);
        }
        if r % 3 != 0 {
            ctx.update(&s);
        }
        if r % 7 != 0 {
            ctx.update(&p);
        }
        if r & 1 != 0 {
            ctx.update(c);
        } else {
            ctx.update(&p);
        }
        c = ctx.finalize().into();
    }

    // 22. crypt-base64, in the byte order of b64_from_24bit(...) calls
    let mut out = [0u8; DIGEST_LEN];
    let mut pos = 0;
    let mut emit = |b2: u8, b1: u8, b0: u8, n: usize| {
        let mut w = ((b2 as u32) << 16) | ((b1 as u32) << 8) | b0 as u32;
        for _ in 0..n {
            out[pos] = CRYPT_B64[(w & 0x3f) as usize];
            pos += 1;
            w >>= 6;
        }
    };
    emit(c[0], c[10], c[20], 4);
    emit(c[21], c[1], c[11], 4);
    emit(c[12], c[22], c[2], 4);
    emit(c[3], c[13], c[23], 4);
    emit(c[24], c[4], c[14], 4);
    emit(c[15], c[25], c[5], 4);
    emit(c[6], c[16], c[26], 4);
    emit(c[27], c[7], c[17], 4);
    emit(c[18], c[28], c[8], 4);
    emit(c[9], c[19], c[29], 4);
    emit(0, c[31], c[30], 3);

    super::wipe(&mut p);
    out
}

/// Check that `salt` is one MySQL itself could have produced and will
/// process unchanged (see [`Error`] variants).
pub fn validate_salt(salt: &[u8; SALT_LEN]) -> Result<(), Error> {
    for (index, &byte) in salt.iter().enumerate() {
        if byte == 0 || byte == b'$' || byte >= 0x80 {
            return Err(Error::InvalidSaltByte { index, byte });
        }
    }
    if salt.windows(7).any(|w| w == b"rounds=") {
        return Err(Error::SaltContainsRounds);
    }
    Ok(())
}

/// A fresh MySQL-valid salt: OS randomness mapped exactly like MySQL's
/// `generate_user_salt` (`& 0x7f`; `'\0'`/`'$'` bumped by one). A salt that
/// happens to contain `rounds=` is drawn again.
pub fn generate_salt() -> Result<[u8; SALT_LEN], Error> {
    loop {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(Error::Random)?;
        for b in salt.iter_mut() {
            *b &= 0x7f;
            if *b == 0 || *b == b'$' {
                *b += 1;
            }
        }
        if validate_salt(&salt).is_ok() {
            return Ok(salt);
        }
    }
}

fn check_password(password: &[u8]) -> Result<(), Error> {
    if password.is_empty() {
        return Err(Error::EmptyPassword);
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::PasswordTooLong(password.len()));
    }
    Ok(())
}

/// The 70-byte `authentication_string` MySQL would store for `password`
/// with this `salt` and the default 5000 rounds: `$A$005$` + salt + digest.
pub fn stored_form(password: &[u8], salt: &[u8; SALT_LEN]) -> Result<[u8; STORED_LEN], Error> {
    check_password(password)?;
    validate_salt(salt)?;
    let digest = sha256_crypt_digest(password, salt, DEFAULT_ROUNDS);
    let mut out = [0u8; STORED_LEN];
    out[..PREFIX_LEN].copy_from_slice(PREFIX_5000);
    out[PREFIX_LEN..PREFIX_LEN + SALT_LEN].copy_from_slice(salt);
    out[PREFIX_LEN + SALT_LEN..].copy_from_slice(&digest);
    Ok(out)
}

/// [`stored_form`] with a freshly generated salt.
pub fn new_stored_form(password: &[u8]) -> Result<[u8; STORED_LEN], Error> {
    let salt = generate_salt()?;
    stored_form(password, &salt)
}

/// The auth clause for `CREATE USER`/`ALTER USER`, with a fresh salt:
/// `IDENTIFIED WITH caching_sha2_password AS 0x2441243030352...`
/// (hex literals accepted there since MySQL 8.0.17, WL#12803).
pub fn identified_with_clause(password: &[u8]) -> Result<String, Error> {
    let stored = new_stored_form(password)?;
    Ok(format!(
        "IDENTIFIED WITH caching_sha2_password AS 0x{}",
        super::to_hex_upper(&stored)
    ))
}

#[cfg(test)]
#[path = "caching_sha2_tests.rs"]
pub(super) mod tests;
