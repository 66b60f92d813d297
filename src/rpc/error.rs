//! Why a request could not be decoded, and what the caller is told about it.
//!
//! Every decode error is permanent: the same bytes will fail the same way, so the
//! message is answered (when it is a call) and dropped, never retried.

use super::failure::Failure;
use super::{Call, WireId};

/// Why a message body could not be turned into a [`super::Request`].
///
/// Messages name fields, sizes and reasons, never field values: a value may be a
/// password or an encrypted blob.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The body exceeds the configured limit; checked before any parsing.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Body size in bytes.
        size: usize,
        /// Configured limit in bytes.
        limit: usize,
    },
    /// The body, or the inner `oslo.message`, is not JSON.
    #[error("message is not valid JSON: {0}")]
    Json(serde_json::Error),
    /// The body is JSON but not an object with `oslo.version` and `oslo.message`.
    #[error("message is not an oslo.messaging envelope (`oslo.version` and `oslo.message`)")]
    NotEnvelope,
    /// The envelope's `oslo.version` is not `"2.0"`; the text is the JSON as sent.
    #[error("unsupported oslo.messaging envelope version {0}")]
    OsloVersion(String),
    /// The inner message has no `method`.
    #[error("request has no `method`")]
    MissingMethod,
    /// A field is present but has the wrong shape.
    #[error("field `{field}` must be {expected}")]
    BadField {
        /// The wire name of the field.
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
    /// An encrypted value could not be opened with the configured key, or a
    /// value that must be encrypted is not. Every way this can happen reads
    /// the same, on purpose: telling a caller *why* (bad padding, not JSON,
    /// ...) would make the key a decryption oracle. The reason is kept for
    /// the agent's own log ([`RpcError::detail`]), and such a call gets no
    /// reply at all.
    #[error("the message cannot be decrypted with the instance key")]
    Undecryptable {
        /// Which value: `the context`, `argument "users"`.
        what: String,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The message reuses ciphertext the agent received or sent before
    /// under another message (see `rpc::replay`): a replay or a forgery. It
    /// gets no reply.
    #[error("the message reuses the ciphertext of another message (a replay or a forgery)")]
    Reused,
    /// The requested API version's major is not 1; the text is the version as sent.
    #[error("unsupported RPC version {0:?}")]
    UnsupportedVersion(String),
}

impl RpcError {
    /// What to tell the caller: Trove's `BadRequest`, or oslo's own
    /// `UnsupportedVersion` for a version this agent does not serve.
    pub fn failure(&self) -> Failure {
        match self {
            Self::UnsupportedVersion(version) => Failure::unsupported_version(version),
            other => Failure::bad_request(other.to_string()),
        }
    }

    /// A stable name of the variant, independent of wording: for tests and
    /// the fuzz targets.
    #[cfg(any(test, feature = "testkit"))]
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "rpc.too_large",
            Self::Json(_) => "rpc.bad_json",
            Self::NotEnvelope => "rpc.not_envelope",
            Self::OsloVersion(_) => "rpc.oslo_version",
            Self::MissingMethod => "rpc.missing_method",
            Self::BadField { .. } => "rpc.bad_field",
            Self::Undecryptable { .. } => "rpc.undecryptable",
            Self::Reused => "rpc.reused",
            Self::UnsupportedVersion(_) => "rpc.unsupported_version",
        }
    }

    /// What the agent logs: for an undecryptable message, which value and
    /// why; otherwise the same as `Display`.
    pub fn detail(&self) -> String {
        match self {
            Self::Undecryptable { what, reason } => format!("cannot decrypt {what}: {reason}"),
            other => other.to_string(),
        }
    }

    /// True when the sender must not be told anything: the message is
    /// rejected without a reply (see [`RpcError::Undecryptable`]).
    pub fn is_silent(&self) -> bool {
        matches!(self, Self::Undecryptable { .. } | Self::Reused)
    }
}

impl crate::model::Classify for RpcError {
    fn wire_class(&self) -> crate::model::WireClass {
        self.failure().class()
    }

    /// The same bytes fail the same way on every delivery.
    fn disposition(&self) -> crate::model::Disposition {
        crate::model::Disposition::Fail
    }
}

/// A request that could not be decoded, with whatever could be read before the
/// error so the caller can still be answered.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode request: {error}")]
pub struct DecodeError {
    /// Where to send the failure reply; `None` for a cast or an unreadable body.
    pub call: Option<Call>,
    /// The request's `_unique_id`, when readable.
    pub unique_id: Option<WireId>,
    /// The request's `method`, when readable.
    pub method: Option<String>,
    /// What was wrong.
    pub error: RpcError,
}

impl DecodeError {
    /// What to tell the caller. Like [`RpcError::failure`], but an unsupported
    /// version names the method exactly as oslo's dispatcher does.
    pub fn failure(&self) -> Failure {
        match (&self.error, &self.method) {
            (RpcError::UnsupportedVersion(version), Some(method)) => {
                Failure::unsupported_version_of(version, method)
            }
            (error, _) => error.failure(),
        }
    }

    pub(crate) fn bare(error: RpcError) -> Self {
        Self {
            call: None,
            unique_id: None,
            method: None,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_version_failure_names_method_like_oslo() {
        let err = DecodeError {
            call: None,
            unique_id: None,
            method: Some("get_user".into()),
            error: RpcError::UnsupportedVersion("2.0".into()),
        };
        let failure = err.failure();
        assert_eq!(failure.class().name(), "UnsupportedVersion");
        assert_eq!(failure.class().module(), "oslo_messaging.rpc.dispatcher");
        // Text from the real dispatcher's reply (testdata/wire_encrypted.json).
        assert_eq!(
            failure.message(),
            "Endpoint does not support RPC version 2.0. Attempted method: get_user"
        );
        assert_eq!(
            crate::model::Classify::disposition(&err.error),
            crate::model::Disposition::Fail
        );
        assert_eq!(err.error.code(), "rpc.unsupported_version");
    }

    #[test]
    fn other_errors_are_bad_requests() {
        let failure = RpcError::MissingMethod.failure();
        assert_eq!(failure.class().name(), "BadRequest");
        assert_eq!(failure.class().module(), "trove.common.exception");
        assert_eq!(failure.message(), "request has no `method`");
    }
}
