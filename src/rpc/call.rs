//! The fields of a request that decide whether and where it is answered:
//! `_msg_id`, `_reply_q`, `_timeout`, and the `_unique_id` every request
//! carries. They are read before anything else, before decryption too, so
//! they are typed here, at the edge, with bounds that hold for whatever the
//! broker hands over:
//!
//! - a [`ReplyQueue`] is a routing key the broker accepts: 1 to 255 bytes
//!   (an AMQP short string; lapin's `ShortString::from` panics beyond that),
//!   no control characters;
//! - a [`WireId`] (`_msg_id`, `_unique_id`) is 1 to 255 bytes of printable
//!   ASCII, as oslo's uuid hex always is, so it is safe in a log line and a
//!   journal record as it is;
//! - a timeout is a [`Duration`] of at most [`MAX_CALL_TIMEOUT`]: negative,
//!   non-finite or larger values mean "no timeout", as a missing one does.
//!
//! A call whose `_msg_id` or `_reply_q` does not fit cannot be answered; the
//! agent rejects such a delivery instead.

use std::fmt;
use std::time::Duration;

use serde_json::Number;

/// Longest `_msg_id` / `_unique_id` accepted, in bytes.
pub const MAX_ID_BYTES: usize = 255;
/// Longest `_reply_q`: an AMQP short string.
pub const MAX_REPLY_QUEUE_BYTES: usize = 255;
/// The longest `_timeout` honoured; Trove's longest is 180 s.
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(3600);

/// A `_msg_id` or `_unique_id`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WireId(String);

impl WireId {
    /// 1 to [`MAX_ID_BYTES`] bytes of printable ASCII, else `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let ok =
            !s.is_empty() && s.len() <= MAX_ID_BYTES && s.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| WireId(s.to_owned()))
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for WireId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WireId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Printable ASCII only: nothing to escape.
        f.write_str(&self.0)
    }
}

impl fmt::Debug for WireId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// The routing key a call's replies are published with (on the default
/// exchange): oslo's `reply_<hex>`, or `reply_<host>:<process>:<n>` under
/// its queue manager.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplyQueue(String);

impl ReplyQueue {
    /// 1 to [`MAX_REPLY_QUEUE_BYTES`] bytes without control characters.
    pub fn parse(s: &str) -> Option<Self> {
        let ok =
            !s.is_empty() && s.len() <= MAX_REPLY_QUEUE_BYTES && !s.chars().any(char::is_control);
        ok.then(|| ReplyQueue(s.to_owned()))
    }

    /// The routing key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for ReplyQueue {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReplyQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // It came from the wire: escape anything a terminal would act on.
        write!(f, "{}", self.0.escape_debug())
    }
}

impl fmt::Debug for ReplyQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Where and how to answer a call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// `_msg_id`: echoed in every reply so the caller can match it.
    pub msg_id: WireId,
    /// `_reply_q`: the routing key replies are published with.
    pub reply_q: ReplyQueue,
    /// `_timeout`: how long the caller waits, when it said so and the value
    /// is one to honour (see [`timeout`]).
    pub timeout: Option<Duration>,
}

/// A `_timeout` as a duration: `None` for a negative, non-finite or
/// implausibly long value, which the agent treats like no timeout at all.
pub fn timeout(n: &Number) -> Option<Duration> {
    let secs = n.as_f64()?;
    if !secs.is_finite() || secs < 0.0 || secs > MAX_CALL_TIMEOUT.as_secs_f64() {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bounded_printable_ascii() {
        assert!(WireId::parse("5a0f6ee4b7b44c8e9f0aa5f1b0c3d9e2").is_some());
        assert!(WireId::parse(&"x".repeat(255)).is_some());
        for bad in ["", " ", "a b", "a\nb", "é", "\u{200b}", &"x".repeat(256)] {
            assert!(WireId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn reply_queues_fit_a_short_string() {
        assert!(ReplyQueue::parse("reply_0123abc").is_some());
        assert!(ReplyQueue::parse("reply_ctl1:trove-taskmanager:1").is_some());
        assert!(ReplyQueue::parse(&"q".repeat(255)).is_some());
        // 128 two-byte characters: 256 bytes.
        assert!(ReplyQueue::parse(&"é".repeat(128)).is_none());
        assert!(ReplyQueue::parse(&"q".repeat(256)).is_none());
        assert!(ReplyQueue::parse("").is_none());
        assert!(ReplyQueue::parse("reply\u{1b}[2J").is_none());
        let shown = ReplyQueue::parse("r\u{200b}\"q").map(|q| q.to_string());
        assert_eq!(shown.as_deref(), Some("r\\u{200b}\\\"q"));
    }

    #[test]
    fn timeouts_are_clamped_to_none() {
        let n = |v: f64| Number::from_f64(v).unwrap();
        assert_eq!(timeout(&n(2.5)), Some(Duration::from_millis(2500)));
        assert_eq!(timeout(&Number::from(0)), Some(Duration::ZERO));
        assert_eq!(timeout(&Number::from(3600)), Some(MAX_CALL_TIMEOUT));
        for bad in [-1.0, -0.5, 3600.5, 1e300, f64::MAX] {
            assert_eq!(timeout(&n(bad)), None, "{bad}");
        }
        assert_eq!(timeout(&Number::from(i64::MIN)), None);
        assert_eq!(timeout(&Number::from(u64::MAX)), None);
    }
}
