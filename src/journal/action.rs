//! The action record (Cloud66's shape) and its timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an action is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Durably admitted, not started.
    Queued,
    /// Being applied.
    Running,
    /// Applied.
    Success,
    /// Refused or failed; nothing (or what `finished_message` says) applied.
    Failed,
}

impl Status {
    /// True once the action has its outcome.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Success | Status::Failed)
    }
}

/// One mutating command, as the journal keeps it. The first block of fields
/// is the public Cloud66 action; the rest is the agent's bookkeeping and is
/// never shown over RPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Journal-wide increasing id.
    pub id: u64,
    /// e.g. `database_user_create`.
    pub action_type: String,
    /// `database_user`, `database` or `root`.
    pub resource_type: String,
    /// The user's uid, the database name, or null.
    pub resource_id: Option<String>,
    /// How the command arrived: `rpc`.
    pub started_via: String,
    /// Where it is.
    pub status: Status,
    /// When work began.
    pub started_at: Option<String>,
    /// When the outcome was known.
    pub finished_at: Option<String>,
    /// The outcome.
    pub finished_success: Option<bool>,
    /// What happened, for a person.
    pub finished_message: Option<String>,
    /// When it was admitted.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// The oslo `_unique_id` of the message that carried it (dedup key).
    #[serde(default)]
    pub unique_id: Option<String>,
    /// Every resource the command touches (e.g. each user's uid).
    #[serde(default)]
    pub resources: Vec<String>,
    /// The wire method.
    #[serde(default)]
    pub method: String,
    /// The result to answer a resent call with (never holds a secret).
    #[serde(default)]
    pub result: Option<Value>,
    /// The outcome has been published (reply or conductor notification).
    #[serde(default)]
    pub answered: bool,
    /// The failure's class, to answer a resent call the same way.
    #[serde(default)]
    pub failure_class: Option<String>,
    /// The request's context without credentials (see
    /// `Context::without_credentials`), to report the outcome of a cast whose
    /// message never came back.
    #[serde(default)]
    pub context: Option<Value>,
    /// Publishing the answer failed while the agent was running (the broker
    /// went away): the answer is owed. A finished, unanswered action without
    /// this mark may have been answered just before a crash, and is left to
    /// its redelivery rather than risk a second outcome.
    #[serde(default)]
    pub unsent: bool,
    /// The request was a call (it wants a reply, not a notification).
    #[serde(default)]
    pub call: bool,
    /// The keyed digest of the command (`Journal::digest`): a message with
    /// this action's `_unique_id` must carry the same command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Action {
    /// The Cloud66 view: only the public fields.
    pub fn public_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "action_type": self.action_type,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "started_via": self.started_via,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "finished_success": self.finished_success,
            "finished_message": self.finished_message,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// Seconds since the epoch of `created_at`, for the dedup window.
    pub fn created_epoch(&self) -> Option<u64> {
        parse_rfc3339(&self.created_at)
    }
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_rfc3339(secs)
}

/// Formats epoch seconds as UTC `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parses what [`format_rfc3339`] writes.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?);
    let secs = days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?;
    u64::try_from(secs).ok()
}

// Howard Hinnant's civil calendar algorithms (public domain).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_673_778_600), "2023-01-15T10:30:00Z");
        for s in [0u64, 951_782_400, 1_673_778_600, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&format_rfc3339(s)), Some(s));
        }
        assert_eq!(parse_rfc3339("2023-01-15 10:30:00"), None);
    }
}
