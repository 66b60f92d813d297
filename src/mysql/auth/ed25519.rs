//! MariaDB `ed25519` authentication plugin (auth_ed25519) stored value.
//!
//! MariaDB (`plugin/auth_ed25519/ref10/keypair.c`, `crypto_sign_keypair`)
//! treats the *whole password*, of any length, as the Ed25519 secret:
//!
//! ```text
//! az = SHA-512(password)            // not SHA-512 of a 32-byte seed
//! az[0] &= 248; az[31] &= 63; az[31] |= 64
//! A  = az[0..32] * B                 // ge_scalarmult_base
//! pk = encode(A)                     // 32 bytes
//! ```
//!
//! and `server_ed25519.c` stores `my_base64_encode(pk)` without the final
//! `'='` (PASSWORD_LEN = 43). That is what `ed25519_password('pw')` and, from
//! MariaDB 10.4, `IDENTIFIED VIA ed25519 USING PASSWORD('pw')` produce.
//!
//! In ed25519-dalek terms this is `hazmat::ExpandedSecretKey::from_bytes`
//! on the 64-byte SHA-512 digest (which applies the same clamp) followed by
//! `VerifyingKey::from(&expanded)`. `SigningKey::from_bytes(seed)` is the
//! same thing only when the password is exactly 32 bytes.
//! (`az[31] &= 63; |= 64` equals RFC 8032's `&= 127; |= 64`.)

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ed25519_dalek::VerifyingKey;
use ed25519_dalek::hazmat::ExpandedSecretKey;
use sha2::{Digest, Sha512};

/// Length of the stored value (base64 of 32 bytes, padding dropped).
#[cfg(test)]
pub const STORED_LEN: usize = 43;

/// The 32-byte Ed25519 public key MariaDB derives from `password`.
pub fn public_key(password: &[u8]) -> [u8; 32] {
    let mut az: [u8; 64] = Sha512::digest(password).into();
    let expanded = ExpandedSecretKey::from_bytes(&az);
    super::wipe(&mut az);
    VerifyingKey::from(&expanded).to_bytes()
    // `expanded` is zeroized on drop (ed25519-dalek "zeroize" feature).
}

/// The 43-character value for
/// `CREATE USER ... IDENTIFIED VIA ed25519 USING '<value>'`: standard
/// base64 without padding, MariaDB's `my_base64_encode` with the trailing
/// `'='` cut off.
pub fn stored_form(password: &[u8]) -> String {
    STANDARD_NO_PAD.encode(public_key(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    // ------------------------------------------------------------------
    // MariaDB's own expected values:
    //   repo   MariaDB/server
    //   file   mysql-test/suite/plugins/r/auth_ed25519.result
    //   commit 06c57584b377d4d5feaad2d90a826583d4ac91a7
    // (`select ed25519_password("foo")` etc.; 'secret' is the password the
    // test logs in with after `set password ... = 'ZIgUREUg5...'`.)
    // ------------------------------------------------------------------
    const MARIADB_RESULT: &[(&str, &str)] = &[
        ("foo", "vubFBzIrapbfHct1/J72dnUryz5VS7lA6XHH8sIx4TI"),
        ("foobar", "qv2mG6HWCuy32Slb5xhV4THStewNz2VINVPbgk+XAJ8"),
        ("foo bar", "Y5fV74JAVRMOK2cdnUsYS+WW9sXaaL/o+6WGKOgqnzc"),
        ("bar", "pfzkeWMzkTefY1oshXS+/kATeN51M+4jxi3/cbyTd10"),
        ("secret", "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY"),
    ];

    #[test]
    fn mariadb_mysql_test_vectors() {
        for (pw, expected) in MARIADB_RESULT {
            assert_eq!(stored_form(pw.as_bytes()), *expected, "password {pw:?}");
        }
    }

    // MariaDB/server plugin/auth_ed25519/ed25519-t.c
    // (commit 4b07fd76233c3dc2344c7e98ef53d58bdd5f0600): foobar_pk bytes.
    #[test]
    fn mariadb_unit_test_foobar_pk() {
        let foobar_pk: [u8; 32] = [
            170, 253, 166, 27, 161, 214, 10, 236, 183, 217, 41, 91, 231, 24, 85, 225, 49, 210, 181,
            236, 13, 207, 101, 72, 53, 83, 219, 130, 79, 151, 0, 159,
        ];
        assert_eq!(public_key(b"foobar"), foobar_pk);
    }

    // Values computed by a live MariaDB 10.11.19 (Debian 12 package):
    //   SELECT ed25519_password('<pw>')   and
    //   CREATE USER ... IDENTIFIED VIA ed25519 USING PASSWORD('<pw>')
    // (see NOTES.md "Live verification"); each account was then logged
    // into with the mariadb client using the clear password.
    fn mariadb_10_11_live() -> Vec<(String, &'static str)> {
        vec![
            (
                "foo".to_string(),
                "vubFBzIrapbfHct1/J72dnUryz5VS7lA6XHH8sIx4TI",
            ), // 3 bytes
            (
                "secret".to_string(),
                "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY",
            ), // 6 bytes
            (
                "correct horse battery staple".to_string(),
                "1+uYqLS7J/yXURCXR5LjPl0TZDP5bkgVXq1Kq9aCeL4",
            ), // 28 bytes
            (
                "pässwörd-ユニコード-🔐".to_string(),
                "A7KLRY19xsVbWd3RGwR0G46OPfmfm1wiFCk5TYvJpqo",
            ), // 31 bytes
            (
                "Ünïcödé ñ € 中文密码 🙂🙃".to_string(),
                "VHSZN1iZWpgliXRywPiVbF2+UIG8fe4vvRF4eZ7ODtI",
            ), // 40 bytes
            (
                r#"it's a "quoted" pass\word; DROP TABLE x; --"#.to_string(),
                "speIoSfOHKvavOGGlVRN3jqO9MRhQTzwe76Dsr6y2c0",
            ), // 43 bytes
            (
                "A".repeat(31),
                "XZfXesJ7325mDOJPnxVFL/kOG7smQH5jT+WWxmiWP+Y",
            ), // 31 bytes
            (
                "0123456789abcdef0123456789ABCDEF".to_string(),
                "8oHfN5iJFMxrXivbHZLqkjfj9x57hxLOZYi73VscRbo",
            ), // 32 bytes
            (
                "x".repeat(33),
                "0F0qFuBzo9ITx7YVb1jVFg6/t3W/6wFbekS308gV+x8",
            ), // 33 bytes
            (
                "long-but-under-64 bytes: 0123456789012345678901234567890".to_string(),
                "8cfBBF75s/sSk/P1kLnOcontNYQj3RJXczmpZsPCk1s",
            ), // 56 bytes
            (
                "y".repeat(64),
                "rklOnernYZPabXyQQmiOyAC2EgO+9JFVLjCyLQpJ24Q",
            ), // 64 bytes
            (
                "z".repeat(65),
                "dN9lW0DAFnLVmbwJi8l4mIEiZiZ1Qc2cj74crK0OLU8",
            ), // 65 bytes
            (
                format!("pw>64 bytes {}", "0123456789".repeat(10)),
                "aiAvlUD+34+XEdkx2ZHlzMvmd86y2jkQAIju8Y4r0PU",
            ), // 112 bytes
            (
                "Ω".repeat(150),
                "5DiOADskSd2TQWuI2c7JliDA4t2KIsPc7Q7vnN+idLU",
            ), // 300 bytes
            (
                "q".repeat(1000),
                "KDpsle989RE6iUKd1mof5SXmPRukr3uhwF/D7QTuD70",
            ), // 1000 bytes
        ]
    }

    #[test]
    fn mariadb_live_vectors() {
        for (pw, expected) in mariadb_10_11_live() {
            assert_eq!(stored_form(pw.as_bytes()), expected, "password {pw:?}");
        }
    }

    /// For a password of exactly 32 bytes MariaDB's derivation coincides
    /// with standard Ed25519 key generation from a 32-byte seed.
    #[test]
    fn equals_standard_keygen_for_32_byte_password() {
        let pw = *b"0123456789abcdef0123456789ABCDEF";
        let std_pk = ed25519_dalek::SigningKey::from_bytes(&pw)
            .verifying_key()
            .to_bytes();
        assert_eq!(public_key(&pw), std_pk);
        // ...and differs from "seed = first 32 bytes" for longer passwords.
        let long = b"0123456789abcdef0123456789ABCDEF-and-more";
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&long[..32]);
        let truncated = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        assert_ne!(public_key(long), truncated);
    }

    #[test]
    fn base64_shape() {
        for pw in ["", "x", "pässwörd", &"y".repeat(200)] {
            let s = stored_form(pw.as_bytes());
            assert_eq!(s.len(), STORED_LEN);
            assert!(
                s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
            );
        }
    }
}
