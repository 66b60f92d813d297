//! Passwords: validated on the way in, never shown, zeroized on drop.
//!
//! A password reaches mysqld only as an authentication hash built in
//! `mysql::auth`; the one other place its text leaves the agent is the
//! reply that hands a generated password over, once.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::names::NameError;

/// Longest password accepted, in bytes.
pub(crate) const MAX_PASSWORD: usize = 512;
/// Length of generated passwords.
pub(crate) const GENERATED_LEN: usize = 32;

/// A password on its way to mysqld. Never printed; zeroized on drop.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Validates a password: non-empty, at most 512 bytes, no NUL. The
    /// password itself never appears in the error.
    pub fn parse(s: SecretString) -> Result<Self, NameError> {
        let p = s.expose_secret();
        if p.is_empty() {
            return Err(NameError::new("password", None, "is empty"));
        }
        if p.len() > MAX_PASSWORD {
            return Err(NameError::new(
                "password",
                None,
                format!("is longer than {MAX_PASSWORD} bytes"),
            ));
        }
        if p.contains('\0') {
            return Err(NameError::new("password", None, "contains a NUL character"));
        }
        Ok(Password(s))
    }

    /// A new random password: [`GENERATED_LEN`] characters of `[A-Za-z0-9]`
    /// from the OS CSPRNG, by rejection sampling so every character is
    /// equally likely.
    pub fn generate() -> Result<Self, getrandom::Error> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut out = zeroize::Zeroizing::new(String::with_capacity(GENERATED_LEN));
        let mut buf = zeroize::Zeroizing::new([0u8; 64]);
        while out.len() < GENERATED_LEN {
            getrandom::fill(&mut buf[..])?;
            for b in buf.iter() {
                // 248 = 4 * 62: values above it would favour the first letters.
                if *b < 248 && out.len() < GENERATED_LEN {
                    out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
                }
            }
        }
        Ok(Password(SecretString::from(out.as_str())))
    }

    /// The secret, for the one place a caller must see it: a reply that hands
    /// a generated password over once.
    pub fn expose_for_reply(&self) -> &str {
        self.0.expose_secret()
    }

    /// The secret, for the one place that turns it into an authentication hash.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_shown() {
        let p = Password::parse(SecretString::from("hunter2-secret")).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        let e = Password::parse(SecretString::from(format!("{}\0", "s3cr3t"))).unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"));
        assert!(Password::parse(SecretString::from("")).is_err());
        assert!(Password::parse(SecretString::from("x".repeat(513))).is_err());
        assert!(Password::parse(SecretString::from("pw' ACCOUNT LOCK -- ")).is_ok());
    }

    #[test]
    fn generated_passwords() {
        let a = Password::generate().unwrap();
        let b = Password::generate().unwrap();
        assert_eq!(a.expose().len(), GENERATED_LEN);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose(), b.expose());
    }
}
