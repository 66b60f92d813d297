//! TLS to the broker: what `amqps://` means here.
//!
//! `amqps://` always means TLS with the broker's certificate checked against
//! a CA bundle and its name checked against the URL's host (rustls, through
//! lapin). There is no switch to turn either check off: a certificate the CA
//! did not sign, a wrong host name, or a plaintext listener behind
//! `amqps://` is never a connection, only a logged reason and a retry.
//!
//! The bundle is exactly one file: `amqp.tls_ca_file` when set, else the
//! system's (the first of [`SYSTEM_BUNDLES`] that exists), read at every
//! connection so a renewed CA is picked up without a restart. A client
//! certificate (`amqp.tls_cert_file` + `amqp.tls_key_file`, PEM, the key in
//! PKCS#8) is presented when configured.

use std::path::{Path, PathBuf};

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use zeroize::Zeroizing;

use crate::config::TlsConfig;

/// Where distributions keep the system's CA bundle, in the order tried:
/// Debian and Ubuntu, RHEL and Fedora, SUSE, RHEL's extracted bundle.
pub const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// Why the TLS settings could not be loaded for a connection.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no PEM block of the kind needed.
    #[error("{} holds no PEM {what}", path.display())]
    NotPem {
        /// The file.
        path: PathBuf,
        /// What was looked for.
        what: &'static str,
    },
    /// No CA bundle is configured and none of the system's exists.
    #[error("no CA bundle: set amqp.tls_ca_file (none of {} exists)", SYSTEM_BUNDLES.join(", "))]
    NoBundle,
}

/// The CA bundle a connection trusts: the configured file or the system's.
pub fn bundle_path(tls: &TlsConfig) -> Result<PathBuf, TlsError> {
    match &tls.ca_file {
        Some(p) => Ok(p.clone()),
        None => SYSTEM_BUNDLES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or(TlsError::NoBundle),
    }
}

/// lapin's TLS settings for one connection, read from the files now.
pub fn load(tls: &TlsConfig) -> Result<OwnedTLSConfig, TlsError> {
    let ca = bundle_path(tls)?;
    let chain = read(&ca)?;
    let chain = String::from_utf8(chain).map_err(|_| TlsError::NotPem {
        path: ca.clone(),
        what: "certificate",
    })?;
    if !chain.contains("-----BEGIN CERTIFICATE-----") {
        return Err(TlsError::NotPem {
            path: ca,
            what: "certificate",
        });
    }
    let identity = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let pem = read(cert)?;
            if !contains(&pem, b"-----BEGIN CERTIFICATE-----") {
                return Err(TlsError::NotPem {
                    path: cert.clone(),
                    what: "certificate",
                });
            }
            let key_pem = Zeroizing::new(read(key)?);
            if !contains(&key_pem, b"PRIVATE KEY-----") {
                return Err(TlsError::NotPem {
                    path: key.clone(),
                    what: "private key",
                });
            }
            Some(OwnedIdentity::PKCS8 {
                pem,
                key: key_pem.to_vec(),
            })
        }
        _ => None,
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain: Some(chain),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_bundle_is_the_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let tls = TlsConfig {
            ca_file: Some(ca.clone()),
            ..TlsConfig::default()
        };
        assert_eq!(bundle_path(&tls).unwrap(), ca);
        let loaded = load(&tls).unwrap();
        assert!(loaded.cert_chain.unwrap().contains("MIIB"));
        assert!(loaded.identity.is_none());
    }

    #[test]
    fn files_that_are_not_pem_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk");
        std::fs::write(&junk, "not a certificate").unwrap();
        let tls = TlsConfig {
            ca_file: Some(junk.clone()),
            ..TlsConfig::default()
        };
        let e = load(&tls).unwrap_err().to_string();
        assert!(e.contains(&junk.display().to_string()), "{e}");
        let missing = TlsConfig {
            ca_file: Some(dir.path().join("absent.pem")),
            ..TlsConfig::default()
        };
        assert!(
            load(&missing)
                .unwrap_err()
                .to_string()
                .contains("absent.pem")
        );
    }
}
