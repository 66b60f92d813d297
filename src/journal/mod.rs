//! The durable action journal: every mutating command is an action that is
//! recorded before its message is acknowledged and finished with its outcome.
//!
//! Life of an action: `admit` (status `queued`, fsync'd) → `start`
//! (`running`) → `finish` (`success`/`failed` with `finished_message`) →
//! `answered` (the reply or conductor notification went out). The broker
//! message is acknowledged only after that, so a crash at any point leaves
//! either the message to be redelivered or a journal that says how far the
//! command got. A message whose `_unique_id` the journal already knows
//! (within the dedup window) is never applied twice: a finished action is
//! answered from the journal, an unfinished one is reconciled against mysqld.
//!
//! Secrets never enter the journal: results with generated passwords are
//! stored without them, and a command is remembered only by a keyed digest
//! of its method and arguments ([`Journal::digest`]), so that a message
//! reusing a known `_unique_id` for another command is recognised.

mod action;
mod store;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

pub use action::{Action, Status, rfc3339};

use crate::model::{Account, ActionType, Classify, Disposition, Resource, WireClass};
use store::Store;
use writer::Writer;

/// Finished actions kept for `list_actions` and dedup; beyond this the
/// oldest are dropped at compaction. Each is held in memory (about 1 KiB);
/// dedup needs only the few in hand when a delivery comes back, and the
/// agent must stay small on a busy host (docs/benchmarks.md).
pub const MAX_FINISHED: usize = 1_000;

/// Journal failures: the disk is the agent's promise, so these are fatal to
/// the command (it is not acknowledged and will be redelivered).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing the journal failed.
    #[error("journal I/O on {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A record could not be encoded.
    #[error("journal record not encodable: {0}")]
    Encode(String),
    /// No such action.
    #[error("no action {0}")]
    Unknown(u64),
    /// The writer thread could not put a record on disk.
    #[error("journal write failed: {0}")]
    Write(String),
}

impl JournalError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        JournalError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl Classify for JournalError {
    fn wire_class(&self) -> WireClass {
        WireClass::GuestError
    }

    /// The command is left unacknowledged for the broker to hand out again:
    /// a disk that was full may have room then.
    fn disposition(&self) -> Disposition {
        Disposition::Retry
    }
}

/// What is known about a command when it is admitted.
#[derive(Debug, Clone)]
pub struct NewAction {
    /// What kind of mutation.
    pub action_type: ActionType,
    /// The wire method.
    pub method: String,
    /// The message's `_unique_id`.
    pub unique_id: Option<String>,
    /// Every resource the command touches.
    pub resources: Vec<Resource>,
    /// What it changes of them, by name (never a value).
    pub changed: Vec<&'static str>,
    /// Who asked (the request context's user).
    pub requested_by: Option<String>,
    /// The request's context without credentials.
    pub context: Option<Value>,
    /// The request was a call.
    pub call: bool,
    /// The keyed digest of the command ([`Journal::digest`]).
    pub digest: Option<String>,
}

struct Inner {
    writer: Writer,
    actions: BTreeMap<u64, Action>,
    next_id: u64,
    /// Records appended since the file last held only live actions.
    appended: usize,
    max_finished: usize,
}

/// The journal; cheap to share behind an `Arc`.
pub struct Journal {
    inner: Mutex<Inner>,
    window: Duration,
    key: zeroize::Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens the journal in `dir`, replaying what is there.
    pub fn open(dir: &Path, window: Duration) -> Result<Self, JournalError> {
        Self::open_with(dir, window, MAX_FINISHED)
    }

    /// [`Journal::open`] keeping at most `max_finished` finished actions.
    pub fn open_with(
        dir: &Path,
        window: Duration,
        max_finished: usize,
    ) -> Result<Self, JournalError> {
        Self::open_as(dir, window, max_finished, Writer::spawn)
    }

    /// [`Journal::open`] writing on the caller's thread: for tests whose
    /// clock is paused, which must not wait on another thread.
    #[cfg(any(test, feature = "testkit"))]
    pub fn open_inline(dir: &Path, window: Duration) -> Result<Self, JournalError> {
        Self::open_as(dir, window, MAX_FINISHED, |s| Ok(Writer::Inline(s)))
    }

    fn open_as(
        dir: &Path,
        window: Duration,
        max_finished: usize,
        writer: impl FnOnce(Store) -> Result<Writer, JournalError>,
    ) -> Result<Self, JournalError> {
        let (store, actions) = Store::open(dir)?;
        let key = zeroize::Zeroizing::new(store::key(dir)?);
        let next_id = actions.keys().next_back().map_or(1, |id| id + 1);
        let inner = Inner {
            writer: writer(store)?,
            actions,
            next_id,
            appended: 0,
            max_finished,
        };
        Ok(Journal {
            inner: Mutex::new(inner),
            window,
            key,
        })
    }

    /// The digest a command is recognised by: SHA-256 over the journal's key,
    /// the method and the arguments' canonical JSON, in hex. Keyed, so that
    /// the journal holds nothing a password could be guessed against
    /// without the key file beside it.
    pub fn digest(&self, method: &str, canonical_args: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.key.as_slice());
        h.update(method.as_bytes());
        h.update([0]);
        h.update(canonical_args.as_bytes());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for b in h.finalize() {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Release builds abort on panic, so a poisoned lock is only seen in
        // tests; even then the file is the truth. Keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The action admitted for this `_unique_id` within the dedup window.
    pub fn find_unique(&self, unique_id: &str) -> Option<Action> {
        let now = action::now();
        let inner = self.lock();
        inner
            .actions
            .values()
            .rev()
            .find(|a| a.unique_id.as_deref() == Some(unique_id))
            .filter(|a| now.saturating_sub(a.created_at) <= self.window.as_secs())
            .cloned()
    }

    /// The newest `limit` actions of the journal in `dir`, read without
    /// opening it for writing (for `guestagent actions` beside a running agent).
    pub fn peek(dir: &Path, limit: usize) -> Result<Vec<Action>, JournalError> {
        let actions = store::read_only(dir)?;
        Ok(actions.into_values().rev().take(limit).collect())
    }

    /// Records a new action as `queued`, and waits until that is on disk.
    pub async fn admit(&self, new: NewAction) -> Result<Action, JournalError> {
        self.admit_as(new, Status::Queued).await
    }

    /// Records a new action as already `running`, on disk before the caller
    /// applies it: one flush where `admit` then `start` take two.
    pub async fn admit_running(&self, new: NewAction) -> Result<Action, JournalError> {
        self.admit_as(new, Status::Running).await
    }

    async fn admit_as(&self, new: NewAction, status: Status) -> Result<Action, JournalError> {
        let now = action::now();
        let (a, ticket) = {
            let mut inner = self.lock();
            let id = inner.next_id;
            let resource_id = match new.resources.as_slice() {
                [one] => Some(one.id()),
                _ => None,
            };
            let a = Action {
                id,
                action_type: new.action_type,
                resource_id,
                status,
                started_at: (status == Status::Running).then_some(now),
                finished_at: None,
                finished_message: None,
                created_at: now,
                updated_at: now,
                unique_id: new.unique_id,
                resources: new.resources,
                changed: new.changed.iter().map(|c| (*c).to_owned()).collect(),
                requested_by: new.requested_by,
                method: new.method,
                result: None,
                answered: false,
                failure_class: None,
                context: new.context.map(std::sync::Arc::new),
                unsent: false,
                call: new.call,
                digest: new.digest,
            };
            let ticket = inner.writer.append(encode(&a)?);
            inner.appended += 1;
            inner.next_id += 1;
            inner.actions.insert(id, a.clone());
            (a, ticket)
        };
        ticket.durable().await?;
        Ok(a)
    }

    /// Applies a change to an action and hands its record to the writer;
    /// returns what `out` reads of the changed action (a copy only for the
    /// callers that need one), and a ticket, `None` when `awaited` is false.
    fn update<R>(
        &self,
        id: u64,
        awaited: bool,
        f: impl FnOnce(&mut Action),
        out: impl FnOnce(&Action) -> R,
    ) -> Result<(R, Option<writer::Ticket>), JournalError> {
        let mut inner = self.lock();
        // Changed in place: encoding an action cannot fail (every map key
        // is a string), so memory never gets ahead of the file.
        let a = inner
            .actions
            .get_mut(&id)
            .ok_or(JournalError::Unknown(id))?;
        f(a);
        a.updated_at = action::now();
        let line = encode(a)?;
        let a = out(a);
        let ticket = if awaited {
            Some(inner.writer.append(line))
        } else {
            inner.writer.append_unawaited(line);
            None
        };
        inner.appended += 1;
        maybe_compact(&mut inner);
        Ok((a, ticket))
    }

    /// [`Journal::update`], waiting until the record is on disk.
    async fn update_durably(
        &self,
        id: u64,
        f: impl FnOnce(&mut Action),
    ) -> Result<Action, JournalError> {
        let (a, ticket) = self.update(id, true, f, Action::clone)?;
        if let Some(t) = ticket {
            t.durable().await?;
        }
        Ok(a)
    }

    /// Marks an action `running`, on disk before the caller goes on.
    pub async fn start(&self, id: u64) -> Result<Action, JournalError> {
        self.update_durably(id, |a| {
            a.status = Status::Running;
            a.started_at = Some(action::now());
        })
        .await
    }

    /// Records the outcome, on disk before the caller answers: a result for
    /// a resent call (it must hold no secret), or a failure's class and
    /// message.
    pub async fn finish(
        &self,
        id: u64,
        outcome: Result<Option<Value>, (WireClass, String)>,
    ) -> Result<Action, JournalError> {
        self.update_durably(id, |a| {
            let now = action::now();
            a.started_at.get_or_insert(now);
            a.finished_at = Some(now);
            match outcome {
                Ok(result) => {
                    a.status = Status::Success;
                    a.finished_message = Some("done".into());
                    a.result = result;
                }
                Err((class, message)) => {
                    a.status = Status::Failed;
                    a.failure_class = Some(class);
                    a.finished_message = Some(message);
                }
            }
        })
        .await
    }

    /// Records that publishing the outcome failed: it is owed. Not waited
    /// for: the delivery stays unacknowledged, so the broker hands it out
    /// again and it is answered from the journal whether or not this record
    /// made it to disk; the record only lets the sweep report it should the
    /// message never come back.
    pub fn unsent(&self, id: u64) -> Result<(), JournalError> {
        self.update(id, false, |a| a.unsent = true, |_| ())
            .map(|_| ())
    }

    /// Records that the outcome was published. The request's context is
    /// dropped then: it only serves to report an outcome that was never
    /// published, and it is most of an action's size. Not waited for: lost
    /// in a crash, it leaves a finished action that is answered again from
    /// the journal if its message comes back, and otherwise closed silently
    /// by the sweep (`agent::recovery`), never reported twice.
    pub fn answered(&self, id: u64) -> Result<(), JournalError> {
        self.update(
            id,
            false,
            |a| {
                a.answered = true;
                a.context = None;
            },
            |_| (),
        )
        .map(|_| ())
    }

    /// One action.
    pub fn get(&self, id: u64) -> Option<Action> {
        self.lock().actions.get(&id).cloned()
    }

    /// Newest first: at most `limit` actions older than `marker` (an id), and
    /// the marker for the next page when more remain.
    pub fn list(&self, limit: usize, marker: Option<u64>) -> (Vec<Action>, Option<u64>) {
        let inner = self.lock();
        let upper = marker.unwrap_or(u64::MAX);
        let mut it = inner.actions.range(..upper).rev().map(|(_, a)| a.clone());
        let page: Vec<Action> = it.by_ref().take(limit).collect();
        let next = if it.next().is_some() {
            page.last().map(|a| a.id)
        } else {
            None
        };
        (page, next)
    }

    /// When each account was created (epoch seconds): the newest
    /// successful `database_user_create` action naming it.
    pub fn created_users(&self) -> HashMap<Account, u64> {
        let inner = self.lock();
        let mut out = HashMap::new();
        for a in inner.actions.values() {
            if a.action_type != ActionType::DatabaseUserCreate || a.status != Status::Success {
                continue;
            }
            for r in &a.resources {
                if let Resource::User(account) = r {
                    out.insert(account.clone(), a.created_at);
                }
            }
        }
        out
    }

    /// The newest successful action of `kind`.
    pub fn last_success(&self, kind: ActionType) -> Option<Action> {
        self.lock()
            .actions
            .values()
            .rev()
            .find(|a| a.action_type == kind && a.status == Status::Success)
            .cloned()
    }

    /// Actions whose outcome was never published: left by a crash.
    pub fn unanswered(&self) -> Vec<Action> {
        self.lock()
            .actions
            .values()
            .filter(|a| !a.answered)
            .cloned()
            .collect()
    }
}

/// Once the file holds about twice as many records as there are live
/// actions, drops the oldest answered actions beyond the limit and rewrites
/// the file with one record per action: amortised O(1) per append, and the
/// file stays within a small multiple of the live set.
fn maybe_compact(inner: &mut Inner) {
    if inner.appended < 2 * inner.actions.len().max(inner.max_finished) {
        return;
    }
    let finished: Vec<u64> = inner
        .actions
        .values()
        .filter(|a| a.status.is_finished() && a.answered)
        .map(|a| a.id)
        .collect();
    if finished.len() > inner.max_finished {
        for id in &finished[..finished.len() - inner.max_finished] {
            inner.actions.remove(id);
        }
    }
    let path = inner.writer.path().to_owned();
    match store::snapshot(&path, inner.actions.values()) {
        Ok(tmp) => inner.writer.install(tmp),
        // Not compacting leaves the file longer, and still right.
        Err(e) => {
            tracing::warn!(error = %e, "journal compaction failed; appending to the old file");
            return;
        }
    }
    inner.appended = inner.actions.len();
}

/// One record: the action as a JSON line.
fn encode(a: &Action) -> Result<Vec<u8>, JournalError> {
    // Most records are 0.5 to 1.2 KB (the context is most of them).
    let mut line = Vec::with_capacity(1536);
    serde_json::to_writer(&mut line, a).map_err(|e| JournalError::Encode(e.to_string()))?;
    line.push(b'\n');
    Ok(line)
}

#[cfg(test)]
mod tests;
