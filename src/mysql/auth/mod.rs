//! Passwords as the stored forms of authentication plugins, computed by the
//! agent: a password reaches mysqld only inside `IDENTIFIED BY PASSWORD`,
//! `IDENTIFIED WITH <plugin> AS` or `IDENTIFIED VIA <plugin> USING`, never as
//! statement text that mysqld would hash (and could log).
//!
//! | plugin | stored form | computed in |
//! | --- | --- | --- |
//! | `mysql_native_password` | `*` + upper hex SHA1(SHA1(password)) | [`native_password_hash`] |
//! | `caching_sha2_password` (MySQL 8.0+) | `$A$005$` + 20-byte salt + SHA-256-crypt (5000 rounds), sent as `0x…` | `caching_sha2.rs` |
//! | `ed25519` (MariaDB) | base64 (no padding) of the Ed25519 public key of the password | `ed25519.rs` |
//!
//! Each module's tests carry vectors from MySQL's and MariaDB's own sources.

pub mod caching_sha2;
pub mod ed25519;

use sha1::{Digest, Sha1};

use super::{Flavor, MODE, quote};
use crate::model::{AuthPlugin, DbError, Password};

/// The clause that sets `password` under `plugin` for `CREATE USER` or
/// `ALTER USER` on a server of `flavor`. A plugin the flavor does not have
/// is refused for the command.
pub fn identified(
    flavor: Flavor,
    plugin: AuthPlugin,
    password: &Password,
) -> Result<String, DbError> {
    let secret = password.expose().as_bytes();
    match (flavor, plugin) {
        (Flavor::MariaDb, AuthPlugin::NativePassword) => Ok(format!(
            "IDENTIFIED BY PASSWORD {}",
            quote::literal(&native_password_hash(password.expose()), MODE)
        )),
        (Flavor::MySql, AuthPlugin::NativePassword) => Ok(format!(
            "IDENTIFIED WITH mysql_native_password AS {}",
            quote::literal(&native_password_hash(password.expose()), MODE)
        )),
        (Flavor::MariaDb, AuthPlugin::Ed25519) => Ok(format!(
            "IDENTIFIED VIA ed25519 USING {}",
            quote::literal(&ed25519::stored_form(secret), MODE)
        )),
        (Flavor::MySql, AuthPlugin::CachingSha2) => caching_sha2::identified_with_clause(secret)
            .map_err(|e| match e {
                caching_sha2::Error::Random(_) => DbError::Protocol(e.to_string()),
                _ => DbError::NotSupported(e.to_string()),
            }),
        (flavor, plugin) => Err(DbError::NotSupported(format!(
            "the {plugin} authentication plugin is not available on {}",
            match flavor {
                Flavor::MariaDb => "MariaDB",
                Flavor::MySql => "MySQL",
            }
        ))),
    }
}

/// The `mysql_native_password` hash of a password: `*` followed by the upper
/// case hex of SHA1(SHA1(password)).
pub fn native_password_hash(password: &str) -> String {
    let stage2 = Sha1::digest(Sha1::digest(password.as_bytes()));
    format!("*{}", to_hex_upper(&stage2))
}

/// Upper-case hex, as MySQL prints `HEX()`.
pub fn to_hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Decodes hex of either case; `None` on an odd length or a non-hex digit.
#[cfg(test)]
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let t = text.as_bytes();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    t.chunks_exact(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

/// Wipes a buffer that held secret material.
fn wipe(buf: &mut [u8]) {
    zeroize::Zeroize::zeroize(buf);
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse(SecretString::from(s)).unwrap()
    }

    #[test]
    fn every_clause_holds_the_stored_form_never_the_password() {
        let p = pw("pw' ACCOUNT LOCK -- sekrit");
        for (flavor, plugin, starts) in [
            (
                Flavor::MariaDb,
                AuthPlugin::NativePassword,
                "IDENTIFIED BY PASSWORD '*",
            ),
            (
                Flavor::MySql,
                AuthPlugin::NativePassword,
                "IDENTIFIED WITH mysql_native_password AS '*",
            ),
            (
                Flavor::MariaDb,
                AuthPlugin::Ed25519,
                "IDENTIFIED VIA ed25519 USING '",
            ),
            (
                Flavor::MySql,
                AuthPlugin::CachingSha2,
                "IDENTIFIED WITH caching_sha2_password AS 0x2441243030352",
            ),
        ] {
            let sql = identified(flavor, plugin, &p).unwrap();
            assert!(sql.starts_with(starts), "{sql}");
            assert!(
                !sql.contains("sekrit") && !sql.contains("ACCOUNT LOCK"),
                "{sql}"
            );
        }
        // caching_sha2: 70 bytes, hex; verifiable against the password.
        let sql = identified(Flavor::MySql, AuthPlugin::CachingSha2, &p).unwrap();
        let hex = sql.rsplit("0x").next().unwrap();
        let stored = from_hex(hex).unwrap();
        assert_eq!(stored.len(), caching_sha2::STORED_LEN);
        assert!(caching_sha2::tests::verify(p.expose().as_bytes(), &stored));
        for (flavor, plugin) in [
            (Flavor::MariaDb, AuthPlugin::CachingSha2),
            (Flavor::MySql, AuthPlugin::Ed25519),
        ] {
            let e = identified(flavor, plugin, &p).unwrap_err();
            assert!(matches!(e, DbError::NotSupported(_)), "{e}");
        }
    }

    #[test]
    fn native_hash_matches_mysqld() {
        // SELECT PASSWORD('password') on MariaDB 10.11.
        assert_eq!(
            native_password_hash("password"),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
    }
}
