//! The whole delivery path with fakes on both sides: bytes as the broker
//! hands them over go through decode, parse, the journal, an in-memory
//! database ([`FakeDb`]) and the answer, to a broker that records what was
//! committed ([`FakeBroker`]). Time is paused (retry windows and back-off
//! pass at once), so a run of hundreds of deliveries takes milliseconds.
//!
//! Used by the tests beside it and by the `handler` cargo-fuzz target,
//! which check, for arbitrary envelopes and arguments, that nothing panics
//! and that every delivery is settled exactly once: acknowledged with at most
//! one answer, or rejected without one.

use std::path::Path;
use std::sync::Arc;

use secrecy::SecretString;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::broker::{FakeBroker, Published, Settled};
use super::db::{FakeDb, Fault};
use super::{CONDUCTOR, GUEST};
use crate::agent::delivery::Patience;
use crate::agent::handler::{self, Incoming};
use crate::agent::listings::Listings;
use crate::agent::mutation;
use crate::agent::scheduler::Scheduler;
use crate::agent::shared::Shared;
use crate::command::Limits;
use crate::conductor::Conductor;
use crate::instance::Instance;
use crate::journal::Journal;
use crate::model::Protected;
use crate::rpc::{Codec, Crypto};

/// How the agent of a drive is set up.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Trove's instance key, if the agent encrypts.
    pub key: Option<String>,
    /// `amqp.allow_plaintext`.
    pub allow_plaintext: bool,
    /// `amqp.allow_root_enable` is false.
    pub deny_root_enable: bool,
    /// The database's faults, one per call (see [`FakeDb::script`]).
    pub faults: Vec<Option<Fault>>,
    /// `trove.await_prepare`.
    pub await_prepare: bool,
}

/// The agent of a drive: its codec (to build requests with the same key),
/// its database and its broker.
#[derive(Debug)]
pub struct Drive {
    shared: Arc<Shared<FakeDb>>,
    broker: FakeBroker,
    runtime: tokio::runtime::Runtime,
    delivered: std::sync::atomic::AtomicU64,
}

/// The largest message body a drive accepts.
pub const MAX_BYTES: usize = 64 * 1024;

impl Drive {
    /// An agent with its journal in `state_dir` (which should be empty).
    pub fn new(setup: &Setup, state_dir: &Path) -> std::io::Result<Self> {
        let db = FakeDb::new(Protected::new("os_admin", &[], &[]));
        db.script(setup.faults.iter().copied());
        Self::over(setup, state_dir, db)
    }

    /// The agent restarted: a new process over the same state directory and
    /// the same server, its in-memory state gone.
    pub fn restart(self, setup: &Setup, state_dir: &Path) -> std::io::Result<Self> {
        let db = self.shared.db.share();
        // Dropping the runtime drops every task where it stands, as a kill would.
        drop(self);
        Self::over(setup, state_dir, db)
    }

    fn over(setup: &Setup, state_dir: &Path, db: FakeDb) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()?;
        let crypto = setup
            .key
            .as_ref()
            .map(|k| Crypto::new(&SecretString::from(k.clone())));
        let codec = Codec::new(crypto, setup.allow_plaintext, MAX_BYTES, GUEST.into());
        // On the caller's thread: the paused clock must not run ahead while
        // a command waits for another thread's disk write.
        let journal = Journal::open_inline(state_dir, std::time::Duration::from_secs(86_400))
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            codec,
            db,
            journal,
            conductor: Conductor::new(CONDUCTOR.0, CONDUCTOR.1, GUEST),
            limits: Limits { max_items: 100 },
            shutdown: CancellationToken::new(),
            mysql_socket: "/nonexistent/mysqld.sock".into(),
            listings: Listings::default(),
            reclaimer: crate::memory::Reclaimer::default(),
            allow_root_enable: !setup.deny_root_enable,
            patience: Patience::default(),
            scheduler: Scheduler::new(crate::mysql::POOL_SIZE),
            instance: Instance::with_state(
                setup.await_prepare,
                &state_dir.join("markers"),
                state_dir,
                Some(state_dir),
                None,
            ),
        });
        Ok(Drive {
            shared,
            broker: FakeBroker::default(),
            runtime,
            delivered: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The agent's codec, e.g. to encrypt requests for it.
    pub fn codec(&self) -> &Codec {
        &self.shared.codec
    }

    /// The fake database.
    pub fn db(&self) -> &FakeDb {
        &self.shared.db
    }

    /// The fake broker.
    pub fn broker(&self) -> &FakeBroker {
        &self.broker
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.shared.journal
    }

    /// What the heartbeat would say now, were mysqld in state `mysqld`
    /// (`None`: no heartbeat yet).
    #[cfg(test)]
    pub(crate) fn heartbeat(
        &self,
        mysqld: crate::conductor::ServiceStatus,
    ) -> Option<crate::conductor::ServiceStatus> {
        self.shared.instance.heartbeat(mysqld)
    }

    /// Runs the recovery sweep as a new session does, over every action the
    /// journal holds unanswered, until it is done (after its grace period,
    /// which the paused clock skips). Returns how long it took on that clock.
    pub fn sweep(&self) -> std::time::Duration {
        let left = self
            .shared
            .journal
            .unanswered()
            .iter()
            .map(|a| a.id)
            .collect();
        self.runtime.block_on(async {
            let start = tokio::time::Instant::now();
            crate::agent::recovery::sweep(
                self.shared.clone(),
                self.broker.clone(),
                left,
                CancellationToken::new(),
            )
            .await;
            start.elapsed()
        })
    }

    /// Hands every body to the agent as one session would (concurrently,
    /// mutations through the worker, tags 1, 2, ...), waits until all are
    /// done, and returns everything settled since the drive began.
    ///
    /// A panic anywhere on the path is raised here, in the caller.
    pub fn deliver(&self, bodies: &[Vec<u8>]) -> Vec<Settled> {
        self.deliver_for(bodies, None)
    }

    /// [`Drive::deliver`], giving up after `limit` on the (paused) clock:
    /// what is still in hand stays so, as in an agent about to be killed
    /// ([`Drive::restart`]).
    pub fn deliver_for(
        &self,
        bodies: &[Vec<u8>],
        limit: Option<std::time::Duration>,
    ) -> Vec<Settled> {
        use std::sync::atomic::Ordering;
        let first = self
            .delivered
            .fetch_add(bodies.len() as u64, Ordering::Relaxed);
        let all = async {
            let (job_tx, job_rx) = mpsc::channel(16);
            let worker = tokio::spawn(mutation::worker(
                self.shared.clone(),
                self.broker.clone(),
                job_rx,
            ));
            let mut handlers = Vec::with_capacity(bodies.len());
            for (i, body) in bodies.iter().enumerate() {
                let shared = self.shared.clone();
                let broker = self.broker.clone();
                let jobs = job_tx.clone();
                let incoming = Incoming {
                    body: body.clone(),
                    tag: first + i as u64 + 1,
                    delivery_count: None,
                };
                handlers.push(tokio::spawn(async move {
                    handler::handle(&shared, &broker, &jobs, incoming).await
                }));
            }
            for h in handlers {
                reraise(h.await);
            }
            drop(job_tx);
            reraise(worker.await);
        };
        self.runtime.block_on(async {
            match limit {
                Some(limit) => {
                    let _ = tokio::time::timeout(limit, all).await;
                }
                None => all.await,
            }
        });
        self.broker.settled()
    }
}

/// Checks what a drive settled against the bodies delivered (tags
/// `first_tag + 1 ..`): every delivery settled exactly once, at most one
/// answer each, every answer a well-formed oslo envelope, a reply sent to
/// the request's `_reply_q` with its `_msg_id`, a notification to the
/// conductor. Returns what each delivery got, in order, or what is wrong.
pub fn verify(
    bodies: &[Vec<u8>],
    settled: &[Settled],
    first_tag: u64,
) -> Result<Vec<Settled>, String> {
    let mut by_tag: Vec<Option<Settled>> = vec![None; bodies.len()];
    for s in settled.iter().filter(|s| s.tag() > first_tag) {
        let i = usize::try_from(s.tag() - first_tag - 1).unwrap_or(usize::MAX);
        let slot = by_tag
            .get_mut(i)
            .ok_or_else(|| format!("unknown tag {}", s.tag()))?;
        if slot.is_some() {
            return Err(format!("delivery {} settled twice", s.tag()));
        }
        *slot = Some(s.clone());
    }
    let mut out = Vec::with_capacity(bodies.len());
    for (i, (s, body)) in by_tag.into_iter().zip(bodies).enumerate() {
        let s = s.ok_or_else(|| format!("delivery {} never settled", i + 1))?;
        if let Settled::Ack { published, .. } = &s {
            if published.len() > 1 {
                return Err(format!("{} answers to delivery {}", published.len(), i + 1));
            }
            for p in published {
                check_answer(p, body).map_err(|e| format!("delivery {}: {e}", i + 1))?;
            }
        }
        out.push(s);
    }
    Ok(out)
}

fn check_answer(p: &Published, request: &[u8]) -> Result<(), String> {
    let inner = inner_message(&p.body).ok_or("an answer is not an oslo 2.0 envelope")?;
    if p.exchange.is_empty() {
        let request = inner_message(request).ok_or("a reply to a body that is no request")?;
        if request.get("_reply_q").and_then(Value::as_str) != Some(p.routing_key.as_str()) {
            return Err("a reply went elsewhere than _reply_q".into());
        }
        if inner.get("_msg_id") != request.get("_msg_id") {
            return Err("a reply does not carry the request's _msg_id".into());
        }
        if inner.get("ending") != Some(&Value::Bool(true)) {
            return Err("a final reply without ending: true".into());
        }
    } else {
        if (p.exchange.as_str(), p.routing_key.as_str()) != CONDUCTOR {
            return Err(format!("a cast to {}/{}", p.exchange, p.routing_key));
        }
        let method = inner.get("method").and_then(Value::as_str);
        if !matches!(method, Some("notify_end" | "notify_exc_info")) {
            return Err(format!("the conductor got {method:?}"));
        }
    }
    Ok(())
}

/// The inner message of an oslo 2.0 body.
pub fn inner_message(body: &[u8]) -> Option<Map<String, Value>> {
    let outer: Value = serde_json::from_slice(body).ok()?;
    if outer.get("oslo.version")? != "2.0" {
        return None;
    }
    match serde_json::from_str(outer.get("oslo.message")?.as_str()?).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// An oslo 2.0 body around `inner`.
pub fn envelope(inner: &Map<String, Value>) -> Vec<u8> {
    let text = Value::Object(inner.clone()).to_string();
    let mut outer = Map::new();
    outer.insert("oslo.version".into(), Value::String("2.0".into()));
    outer.insert("oslo.message".into(), Value::String(text));
    Value::Object(outer).to_string().into_bytes()
}

/// `inner` as Trove's `SecureSerializer` sends it under `crypto`: each
/// argument value a blob, the `_context_*` fields one blob in
/// `_context_context`.
pub fn encrypt_like_trove(crypto: &Crypto, inner: &Map<String, Value>) -> Map<String, Value> {
    let mut m = inner.clone();
    if let Some(Value::Object(args)) = m.get("args") {
        let sealed: Map<String, Value> = args
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Value::String(crypto.encrypt(v.to_string().as_bytes())),
                )
            })
            .collect();
        m.insert("args".into(), Value::Object(sealed));
    }
    let context = crate::rpc::Context::from_prefixed(&m);
    m.retain(|k, _| !k.starts_with("_context_"));
    let text = Value::Object(context.into_map()).to_string();
    m.insert(
        "_context_context".into(),
        Value::String(crypto.encrypt(text.as_bytes())),
    );
    m
}

fn reraise(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}
