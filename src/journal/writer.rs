//! The journal's disk writer: one thread that owns the file and
//! group-commits.
//!
//! Records are handed over in the order the journal's state changed (the
//! journal submits them under its lock), so the file is written in that
//! order. The thread takes everything that is waiting, writes it with one
//! `write` and one `fdatasync`, and only then tells each waiter its record is
//! on disk. Under load many commands share one flush; alone, a command pays
//! one flush per record it waits for, as before. Nothing that runs on the
//! async runtime (reads, heartbeats, the broker committer) ever waits on the
//! disk: only a caller that awaits its [`Ticket`] does.
//!
//! A failed batch is cut back (see [`Store::append`]) and every waiter in it
//! is told; records nobody waits for (see `Journal::answered`) are then lost,
//! which the journal's design allows.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::JournalError;
use super::store::Store;

/// The most records written in one flush; bounds a batch's buffer.
const MAX_BATCH: usize = 256;
/// The batch buffer's capacity kept between flushes.
const KEEP_BUFFER: usize = 64 * 1024;
/// Records nobody waits for (the `answered` and `unsent` marks) are written
/// at once but not flushed on their own: the next flush a waiter asks for
/// takes them along, or this long after they were written with nothing else
/// coming, a flush of their own. A process crash loses nothing written; a
/// power loss within this window may lose a mark, which the journal allows.
const LAZY_SYNC: std::time::Duration = std::time::Duration::from_millis(100);

/// Where a record goes: a thread of its own (the daemon), or the caller's
/// own thread (tests whose clock is paused must not wait on another thread).
pub(super) enum Writer {
    Thread {
        tx: Option<mpsc::Sender<Request>>,
        thread: Option<JoinHandle<()>>,
        path: PathBuf,
    },
    // Built only by tests (`Journal::open_inline`).
    #[cfg_attr(not(any(test, feature = "testkit")), allow(dead_code))]
    Inline(Store),
}

pub(super) enum Request {
    Append {
        line: Vec<u8>,
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    /// A snapshot of the live journal ([`super::store::snapshot`]) to
    /// replace the file with.
    Install(PathBuf),
}

/// The promise that a record is on disk, or the reason it is not.
#[must_use = "a record is durable only once its ticket is waited for"]
pub struct Ticket(TicketInner);

enum TicketInner {
    Done(Result<(), JournalError>),
    Waiting(oneshot::Receiver<Result<(), String>>),
}

impl Ticket {
    /// Waits until the record is on disk.
    pub async fn durable(self) -> Result<(), JournalError> {
        match self.0 {
            TicketInner::Done(r) => r,
            TicketInner::Waiting(rx) => match rx.await {
                Ok(r) => r.map_err(JournalError::Write),
                Err(_) => Err(JournalError::Write("the journal writer stopped".into())),
            },
        }
    }
}

impl Writer {
    /// Starts the writer thread over `store`.
    pub(super) fn spawn(store: Store) -> Result<Writer, JournalError> {
        let (tx, rx) = mpsc::channel();
        let path = store.path().to_owned();
        let thread = std::thread::Builder::new()
            .name("journal".into())
            .stack_size(256 * 1024)
            .spawn(move || run(store, rx))
            .map_err(|e| JournalError::Write(format!("cannot start the journal writer: {e}")))?;
        Ok(Writer::Thread {
            tx: Some(tx),
            thread: Some(thread),
            path,
        })
    }

    /// Hands a record over; the ticket says when it is on disk.
    pub(super) fn append(&mut self, line: Vec<u8>) -> Ticket {
        match self {
            Writer::Inline(store) => Ticket(TicketInner::Done(
                store
                    .append_batch(&line)
                    .map_err(|e| JournalError::Write(e.to_string())),
            )),
            Writer::Thread { tx, .. } => {
                let (done, rx) = oneshot::channel();
                let sent = tx.as_ref().is_some_and(|tx| {
                    tx.send(Request::Append {
                        line,
                        done: Some(done),
                    })
                    .is_ok()
                });
                if sent {
                    Ticket(TicketInner::Waiting(rx))
                } else {
                    Ticket(TicketInner::Done(Err(JournalError::Write(
                        "the journal writer stopped".into(),
                    ))))
                }
            }
        }
    }

    /// Hands a record over that nobody will wait for.
    pub(super) fn append_unawaited(&mut self, line: Vec<u8>) {
        match self {
            Writer::Inline(store) => {
                if let Err(e) = store.append_batch(&line) {
                    tracing::warn!(error = %e, "journal record not written");
                }
            }
            Writer::Thread { tx, .. } => {
                if let Some(tx) = tx {
                    let _ = tx.send(Request::Append { line, done: None });
                }
            }
        }
    }

    /// Where the journal file is.
    pub(super) fn path(&self) -> &Path {
        match self {
            Writer::Inline(store) => store.path(),
            Writer::Thread { path, .. } => path,
        }
    }

    /// Replaces the file with a snapshot, after every record handed over
    /// before it (the snapshot holds their state).
    pub(super) fn install(&mut self, snapshot: PathBuf) {
        match self {
            Writer::Inline(store) => install(store, &snapshot),
            Writer::Thread { tx, .. } => {
                if let Some(tx) = tx {
                    let _ = tx.send(Request::Install(snapshot));
                }
            }
        }
    }
}

impl Drop for Writer {
    /// Lets the thread write what is queued, then waits for it: whatever
    /// was handed over before the journal is dropped reaches the file.
    fn drop(&mut self) {
        if let Writer::Thread { tx, thread, .. } = self {
            drop(tx.take());
            if let Some(t) = thread.take()
                && t.join().is_err()
            {
                tracing::error!("the journal writer panicked");
            }
        }
    }
}

fn run(mut store: Store, rx: mpsc::Receiver<Request>) {
    let mut buf = Vec::new();
    let mut waiters = Vec::new();
    // Records written and not yet flushed (see `LAZY_SYNC`).
    let mut unsynced = false;
    loop {
        let first = if unsynced {
            match rx.recv_timeout(LAZY_SYNC) {
                Ok(r) => r,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    lazy_sync(&mut store, &mut unsynced);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(r) => r,
                Err(_) => break,
            }
        };
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(req) = next.take() {
            taken += 1;
            match req {
                Request::Append { line, done } => {
                    buf.extend_from_slice(&line);
                    waiters.extend(done);
                }
                Request::Install(snapshot) => {
                    // What is buffered was handed over before the snapshot
                    // was taken: flush it first, so its waiters hear back
                    // only once it is on disk.
                    flush(&mut store, &mut buf, &mut waiters, &mut unsynced);
                    lazy_sync(&mut store, &mut unsynced);
                    install(&mut store, &snapshot);
                }
            }
            if taken < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        flush(&mut store, &mut buf, &mut waiters, &mut unsynced);
    }
    lazy_sync(&mut store, &mut unsynced);
}

fn lazy_sync(store: &mut Store, unsynced: &mut bool) {
    if std::mem::take(unsynced)
        && let Err(e) = store.sync()
    {
        tracing::warn!(error = %e, "journal flush of records nobody waited for failed");
    }
}

fn flush(
    store: &mut Store,
    buf: &mut Vec<u8>,
    waiters: &mut Vec<oneshot::Sender<Result<(), String>>>,
    unsynced: &mut bool,
) {
    if buf.is_empty() && waiters.is_empty() {
        return;
    }
    if waiters.is_empty() {
        // Nobody waits: written now, flushed with the next batch that has a
        // waiter (or after `LAZY_SYNC`).
        match store.append_unsynced(buf) {
            Ok(()) => *unsynced = true,
            Err(e) => tracing::error!(error = %e, "journal write failed"),
        }
        buf.clear();
        buf.shrink_to(KEEP_BUFFER);
        return;
    }
    let result = store.append_batch(buf).map_err(|e| e.to_string());
    if result.is_ok() {
        // The flush covered whatever was written unsynced before it.
        *unsynced = false;
    }
    if let Err(e) = &result {
        tracing::error!(error = %e, records = waiters.len(), "journal write failed");
    }
    for w in waiters.drain(..) {
        // A waiter that went away (its command was dropped at shutdown)
        // needs no answer.
        let _ = w.send(result.clone());
    }
    buf.clear();
    buf.shrink_to(KEEP_BUFFER);
}

fn install(store: &mut Store, snapshot: &Path) {
    if let Err(e) = store.install(snapshot) {
        tracing::warn!(error = %e, "journal compaction failed; appending to the old file");
    }
}
