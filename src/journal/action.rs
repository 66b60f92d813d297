//! The action (Cloud66's shape), typed in memory, and its record on disk.
//!
//! Inside the agent an action's type, resources, failure class and times are
//! typed values (epoch seconds for times); RFC 3339 text appears only in
//! [`Action::public_json`], on the way out. On disk each action is one JSON
//! line ([`Record`]); records written by earlier versions (times as RFC 3339
//! text, resources as `name@host` strings) are read too.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Account, ActionType, DbName, HostPattern, Resource, UserName, WireClass};

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
///
/// Serialized through a borrowed view of the record (no copy of the action
/// is made to write it); read through [`Record`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Record")]
pub struct Action {
    /// Journal-wide increasing id.
    pub id: u64,
    /// What kind of mutation.
    pub action_type: ActionType,
    /// The user's uid or the database name, when the action has one resource.
    pub resource_id: Option<String>,
    /// Where it is.
    pub status: Status,
    /// When work began (epoch seconds).
    pub started_at: Option<u64>,
    /// When the outcome was known.
    pub finished_at: Option<u64>,
    /// What happened, for a person.
    pub finished_message: Option<String>,
    /// When it was admitted.
    pub created_at: u64,
    /// Last change.
    pub updated_at: u64,
    /// The oslo `_unique_id` of the message that carried it (dedup key).
    pub unique_id: Option<String>,
    /// Every resource the command touches.
    pub resources: Vec<Resource>,
    /// What it changes of them, by name (`password`, `_locked`, ...):
    /// never a value.
    pub changed: Vec<String>,
    /// Who asked (the request context's user), for the root history.
    pub requested_by: Option<String>,
    /// The wire method.
    pub method: String,
    /// The result to answer a resent call with (never holds a secret).
    pub result: Option<Value>,
    /// The outcome has been published (reply or conductor notification).
    pub answered: bool,
    /// The failure's class, to answer a resent call the same way.
    pub failure_class: Option<WireClass>,
    /// The request's context without credentials (see
    /// `Context::without_credentials`), to report the outcome of a cast whose
    /// message never came back.
    /// Shared: an action is copied out of the journal several times in its
    /// life, and the context is most of its size.
    pub context: Option<Arc<Value>>,
    /// Publishing the answer failed while the agent was running (the broker
    /// went away): the answer is owed. A finished, unanswered action without
    /// this mark may have been answered just before a crash, and is left to
    /// its redelivery rather than risk a second outcome.
    pub unsent: bool,
    /// The request was a call (it wants a reply, not a notification).
    pub call: bool,
    /// The keyed digest of the command (`Journal::digest`): a message with
    /// this action's `_unique_id` must carry the same command.
    pub digest: Option<String>,
}

impl Action {
    /// A failed action's wire class and message, as its answer carries
    /// them (an action journaled without either: `GuestError`, "failed").
    pub fn failure_parts(&self) -> (WireClass, &str) {
        (
            self.failure_class.unwrap_or(WireClass::GuestError),
            self.finished_message.as_deref().unwrap_or("failed"),
        )
    }

    /// The Cloud66 view: only the public fields.
    pub fn public_json(&self) -> Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "action_type": self.action_type,
            "resource_type": self.action_type.resource_type(),
            "resource_id": self.resource_id,
            "started_via": "rpc",
            "status": self.status,
            "started_at": self.started_at.map(rfc3339),
            "finished_at": self.finished_at.map(rfc3339),
            "finished_success": self.status.is_finished().then_some(self.status == Status::Success),
            "finished_message": self.finished_message,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        });
        if !self.changed.is_empty()
            && let Some(m) = v.as_object_mut()
        {
            m.insert("changed".into(), serde_json::json!(self.changed));
        }
        v
    }
}

/// An action as one line of the journal file. `id` comes first: a record
/// found after a torn one on the same line is recognised by it (`store`).
/// Written through [`RecordRef`], which must keep the same fields in the
/// same order.
#[derive(Deserialize)]
struct Record {
    id: u64,
    action_type: ActionType,
    #[serde(default)]
    resource_id: Option<String>,
    status: Status,
    #[serde(default)]
    started_at: Option<Stamp>,
    #[serde(default)]
    finished_at: Option<Stamp>,
    #[serde(default)]
    finished_message: Option<String>,
    created_at: Stamp,
    updated_at: Stamp,
    #[serde(default)]
    unique_id: Option<String>,
    #[serde(default)]
    resources: Vec<DiskResource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    changed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requested_by: Option<String>,
    #[serde(default)]
    method: String,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    answered: bool,
    #[serde(default)]
    failure_class: Option<WireClass>,
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    unsent: bool,
    #[serde(default)]
    call: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

/// A time on disk: epoch seconds, or RFC 3339 text in older records.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stamp {
    Epoch(u64),
    Text(String),
}

impl Stamp {
    fn secs(&self) -> Result<u64, String> {
        match self {
            Stamp::Epoch(s) => Ok(*s),
            Stamp::Text(t) => parse_rfc3339(t).ok_or_else(|| format!("bad time {t:?}")),
        }
    }
}

/// A resource on disk: `{"user": {"name", "host"}}`, `{"database": name}`,
/// or, in older records, the text `name@host` or `name`, read by the
/// action's type.
#[derive(Deserialize)]
#[serde(untagged)]
enum DiskResource {
    User { user: DiskAccount },
    Database { database: String },
    Legacy(String),
}

#[derive(Deserialize)]
struct DiskAccount {
    name: String,
    host: String,
}

impl DiskResource {
    /// The resource, its names validated again: nothing unchecked reaches SQL
    /// from the journal either.
    fn resource(self, action: ActionType) -> Result<Resource, String> {
        let bad = |what: &str| format!("journal resource {what} does not validate");
        match self {
            DiskResource::User { user } => Ok(Resource::User(Account {
                name: UserName::parse(&user.name).map_err(|_| bad("user"))?,
                host: HostPattern::parse(&user.host).map_err(|_| bad("host"))?,
            })),
            DiskResource::Database { database } => Ok(Resource::Database(
                DbName::parse(&database).map_err(|_| bad("database"))?,
            )),
            DiskResource::Legacy(text) => {
                Resource::parse(action.resource_type(), &text).ok_or_else(|| bad("text"))
            }
        }
    }
}

impl TryFrom<Record> for Action {
    type Error = String;

    fn try_from(r: Record) -> Result<Self, String> {
        let action_type = r.action_type;
        Ok(Action {
            id: r.id,
            action_type,
            resource_id: r.resource_id,
            status: r.status,
            started_at: r.started_at.map(|s| s.secs()).transpose()?,
            finished_at: r.finished_at.map(|s| s.secs()).transpose()?,
            finished_message: r.finished_message,
            created_at: r.created_at.secs()?,
            updated_at: r.updated_at.secs()?,
            unique_id: r.unique_id,
            resources: r
                .resources
                .into_iter()
                .map(|d| d.resource(action_type))
                .collect::<Result<_, _>>()?,
            changed: r.changed,
            requested_by: r.requested_by,
            method: r.method,
            result: r.result,
            answered: r.answered,
            failure_class: r.failure_class,
            context: r.context.map(Arc::new),
            unsent: r.unsent,
            call: r.call,
            digest: r.digest,
        })
    }
}

/// [`Record`] borrowed from an action: what is written, field for field in
/// `Record`'s order (times as epoch seconds, empty extras left out), with
/// no copy of the action made to write it.
#[derive(Serialize)]
struct RecordRef<'a> {
    id: u64,
    action_type: &'a ActionType,
    resource_id: Option<&'a str>,
    status: Status,
    started_at: Option<u64>,
    finished_at: Option<u64>,
    finished_message: Option<&'a str>,
    created_at: u64,
    updated_at: u64,
    unique_id: Option<&'a str>,
    resources: Vec<DiskResourceRef<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    changed: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_by: Option<&'a str>,
    method: &'a str,
    result: Option<&'a Value>,
    answered: bool,
    failure_class: Option<&'a WireClass>,
    context: Option<&'a Value>,
    unsent: bool,
    call: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a str>,
}

/// [`DiskResource`] as written, borrowed.
#[derive(Serialize)]
#[serde(untagged)]
enum DiskResourceRef<'a> {
    User { user: DiskAccountRef<'a> },
    Database { database: &'a str },
}

#[derive(Serialize)]
struct DiskAccountRef<'a> {
    name: &'a str,
    host: &'a str,
}

impl<'a> From<&'a Resource> for DiskResourceRef<'a> {
    fn from(r: &'a Resource) -> Self {
        match r {
            Resource::User(a) => DiskResourceRef::User {
                user: DiskAccountRef {
                    name: a.name.as_str(),
                    host: a.host.as_str(),
                },
            },
            Resource::Database(d) => DiskResourceRef::Database {
                database: d.as_str(),
            },
        }
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RecordRef {
            id: self.id,
            action_type: &self.action_type,
            resource_id: self.resource_id.as_deref(),
            status: self.status,
            started_at: self.started_at,
            finished_at: self.finished_at,
            finished_message: self.finished_message.as_deref(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            unique_id: self.unique_id.as_deref(),
            resources: self.resources.iter().map(DiskResourceRef::from).collect(),
            changed: &self.changed,
            requested_by: self.requested_by.as_deref(),
            method: &self.method,
            result: self.result.as_ref(),
            answered: self.answered,
            failure_class: self.failure_class.as_ref(),
            context: self.context.as_deref(),
            unsent: self.unsent,
            call: self.call,
            digest: self.digest.as_deref(),
        }
        .serialize(s)
    }
}

/// Now, in seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Formats epoch seconds as UTC `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
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

/// Parses what [`rfc3339`] writes.
fn parse_rfc3339(s: &str) -> Option<u64> {
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
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_673_778_600), "2023-01-15T10:30:00Z");
        for s in [0u64, 951_782_400, 1_673_778_600, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&rfc3339(s)), Some(s));
        }
        assert_eq!(parse_rfc3339("2023-01-15 10:30:00"), None);
    }

    /// A line exactly as the previous version wrote it.
    const LEGACY: &str = r#"{"id":7,"action_type":"database_user_create","resource_type":"database_user","resource_id":"user_0123456789ab","started_via":"rpc","status":"failed","started_at":"2026-12-01T10:00:00Z","finished_at":"2026-12-01T10:00:01Z","finished_success":false,"finished_message":"user a@% already exists","created_at":"2026-12-01T10:00:00Z","updated_at":"2026-12-01T10:00:01Z","unique_id":"u1","resources":["a@%","b@10.0.%"],"method":"create_user","result":null,"answered":true,"failure_class":"BadRequest","context":null,"unsent":false,"call":false,"digest":"d"}"#;

    #[test]
    fn records_of_the_previous_version_are_read() {
        let a: Action = serde_json::from_str(LEGACY).unwrap();
        assert_eq!(a.action_type, ActionType::DatabaseUserCreate);
        assert_eq!(a.failure_class, Some(WireClass::BadRequest));
        assert_eq!(a.created_at, parse_rfc3339("2026-12-01T10:00:00Z").unwrap());
        let shown: Vec<String> = a.resources.iter().map(|r| r.to_string()).collect();
        assert_eq!(shown, ["a@%", "b@10.0.%"]);
        let public = a.public_json();
        assert_eq!(public["finished_at"], "2026-12-01T10:00:01Z");
        assert_eq!(public["finished_success"], false);
        assert_eq!(public["resource_type"], "database_user");
        // Written back in today's form, read back the same.
        let line = serde_json::to_string(&a).unwrap();
        assert!(line.starts_with("{\"id\":7,"), "{line}");
        assert!(
            line.contains(r#"{"user":{"name":"a","host":"%"}}"#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<Action>(&line).unwrap(), a);
    }

    #[test]
    fn a_resource_that_does_not_validate_refuses_the_record() {
        let bad = LEGACY.replace("\"a@%\"", "\"a`b@%\"");
        assert!(serde_json::from_str::<Action>(&bad).is_err());
        let local = LEGACY.replace("\"a@%\"", r#"{"user":{"name":"a","host":"localhost"}}"#);
        assert!(serde_json::from_str::<Action>(&local).is_err());
    }
}
