//! Reading configuration files, and refusing world-readable ones that hold secrets.

use super::ConfigError;
use secrecy::SecretString;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use zeroize::Zeroizing;

/// The "other users may read" permission bit.
const WORLD_READABLE: u32 = 0o004;

/// A file's text (wiped from memory when dropped) and its permission bits, both
/// taken from the same open file.
pub(super) struct Text {
    pub text: Zeroizing<String>,
    pub mode: u32,
}

/// Reads a UTF-8 text file.
pub(super) fn read_text(path: &Path) -> Result<Text, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    let mode = meta.permissions().mode();
    // Sized up front so that growing never leaves a copy of a secret behind.
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.read_to_end(&mut bytes).map_err(read_err)?;
    let text = String::from_utf8(std::mem::take(&mut *bytes)).map_err(|e| {
        // Wipe the rejected bytes too: they may hold a secret.
        drop(Zeroizing::new(e.into_bytes()));
        ConfigError::Parse {
            path: path.to_owned(),
            message: "the file is not valid UTF-8".to_owned(),
        }
    })?;
    Ok(Text {
        text: Zeroizing::new(text),
        mode,
    })
}

/// Refuses a file that holds a secret and can be read by every user.
pub(super) fn check_private(path: &Path, mode: u32) -> Result<(), ConfigError> {
    if mode & WORLD_READABLE != 0 {
        return Err(ConfigError::InsecurePermissions {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// Refuses a secret file (a TLS private key) that every user can read, or
/// that cannot be read at all.
pub(super) fn check_private_file(path: &Path) -> Result<(), ConfigError> {
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    check_private(path, meta.permissions().mode())
}

/// Reads a password file: must not be world-readable, must not be empty; one
/// trailing line break (`\n` or `\r\n`) is dropped, everything else is kept.
pub(super) fn read_password(path: &Path, key: &str) -> Result<SecretString, ConfigError> {
    let Text { mut text, mode } = read_text(path)?;
    check_private(path, mode)?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(ConfigError::invalid(
            path,
            key,
            "the password file is empty (leave password_file empty for socket auth)",
        ));
    }
    if text.contains('\n') {
        return Err(ConfigError::invalid(
            path,
            key,
            "the password file must hold one line",
        ));
    }
    Ok(SecretString::from(text.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::fs;
    use std::io::Write;

    fn file_with(content: &[u8], mode: u32) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(content).expect("write");
        fs::set_permissions(f.path(), fs::Permissions::from_mode(mode)).expect("chmod");
        f
    }

    #[test]
    fn password_file_is_read_and_trimmed_once() {
        let f = file_with(b"s3cret \r\n", 0o600);
        let pw = read_password(f.path(), "mysql.password_file").expect("read");
        assert_eq!(pw.expose_secret(), "s3cret ");
    }

    #[test]
    fn password_file_must_be_private_and_non_empty() {
        let f = file_with(b"s3cret\n", 0o644);
        let err = read_password(f.path(), "k").expect_err("world-readable");
        assert_eq!(err.code(), "insecure_permissions");
        let msg = err.to_string();
        assert!(msg.contains(&f.path().display().to_string()), "{msg}");
        assert!(msg.contains("chmod 0640"), "{msg}");
        assert!(!msg.contains("s3cret"));

        let f = file_with(b"\n", 0o640);
        let err = read_password(f.path(), "mysql.password_file").expect_err("empty");
        assert!(err.to_string().contains("mysql.password_file"));

        let f = file_with(b"first-sekrit\nsecond\n", 0o600);
        let err = read_password(f.path(), "k").expect_err("two lines");
        assert!(!err.to_string().contains("sekrit"));
    }

    #[test]
    fn unreadable_and_non_utf8_files_name_the_path() {
        let err = read_text(Path::new("/nonexistent/guestagent.toml")).err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("/nonexistent/guestagent.toml"), "{msg}");

        let f = file_with(b"guest_id = \"\xff\"", 0o600);
        let err = read_text(f.path()).err().map(|e| e.code());
        assert_eq!(err, Some("parse"));
    }
}
