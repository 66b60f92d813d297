//! One delivery, from bytes to acknowledgement.
//!
//! The order matters: decode and parse (refusals are answered at once), apply
//! (with retries while mysqld is away), then publish the answer (a reply for
//! a call, a conductor notification for a cast) and acknowledge the delivery
//! in one broker transaction. A message that can never be served is rejected
//! without requeue, its reason logged, so it cannot loop; one that must not
//! be answered at all (it does not decrypt, or it reuses another message's
//! ciphertext) is rejected the same way without a word to its sender.
//! Mutating commands go to the worker in `mutation`, which journals them
//! and runs them in line per account and database (`scheduler`).
//!
//! Everything logged while a delivery is handled carries its `id` and
//! `method` from the delivery's span.

use std::time::Duration;

// tokio's clock: paused in tests, so retry windows can be run through.
use tokio::time::Instant;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zeroize::{Zeroize, Zeroizing};

use super::backoff::Backoff;
use crate::amqp::{Commit, Outgoing};
use crate::command::{Command, Database, Env, FailureKind, Generated, Limits, mysql_failure_kind};
use crate::conductor::Conductor;
use crate::journal::Journal;
use crate::logging::shown;
use crate::mysql::MysqlError;
use crate::mysql::users::Mode;
use crate::rpc::{Call, Codec, Context, DecodeError, Failure, RpcError, WireId};

/// One delivery as the broker handed it over: its body and its tag.
#[derive(Debug)]
pub struct Incoming {
    /// The message body.
    pub body: Vec<u8>,
    /// The delivery tag to settle it with.
    pub tag: u64,
    /// `x-delivery-count` of a quorum queue's redelivery.
    pub delivery_count: Option<u64>,
}

/// How long commands wait for mysqld to come back before they fail.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// A cast.
    pub cast: Duration,
    /// A call that gave no `_timeout`.
    pub call: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            cast: Duration::from_secs(300),
            call: Duration::from_secs(60),
        }
    }
}

/// What every handler shares.
#[derive(Debug)]
pub struct Shared<D> {
    /// Envelope and crypto.
    pub codec: Codec,
    /// The database.
    pub db: D,
    /// The action journal.
    pub journal: Journal,
    /// Where cast outcomes go.
    pub conductor: Conductor,
    /// Parse limits.
    pub limits: Limits,
    /// Cancelled on shutdown.
    pub shutdown: CancellationToken,
    /// mysqld's socket, to tell "stopped" from "broken" in heartbeats.
    pub mysql_socket: std::path::PathBuf,
    /// Large listings, one at a time.
    pub listings: super::listings::Listings,
    /// Gives memory back after large answers.
    pub reclaimer: crate::memory::Reclaimer,
    /// Whether `enable_root` is served (`amqp.allow_root_enable`).
    pub allow_root_enable: bool,
    /// Retry windows.
    pub patience: Patience,
    /// Which mutations may run together, and the slots for their SQL.
    pub scheduler: std::sync::Arc<super::scheduler::Scheduler>,
}

impl<D: Database> Shared<D> {
    /// True while mysqld's socket file exists.
    pub fn mysql_socket_exists(&self) -> bool {
        self.mysql_socket.exists()
    }

    /// What commands run against.
    pub fn env(&self) -> Env<'_, D> {
        Env {
            db: &self.db,
            journal: &self.journal,
        }
    }
}

/// A parsed mutating command waiting for the worker.
#[derive(Debug)]
pub struct Job {
    /// The command.
    pub cmd: Command,
    /// How to answer it.
    pub meta: Meta,
    /// The keyed digest of its method and arguments (see `Journal::digest`).
    pub digest: String,
    /// The delivery's span, so the worker's lines carry its fields.
    pub span: tracing::Span,
}

/// What is needed to answer and acknowledge a request.
#[derive(Debug)]
pub struct Meta {
    /// The message's `_unique_id`.
    pub id: Option<WireId>,
    /// The wire method.
    pub method: String,
    /// Reply details for a call; `None` for a cast.
    pub call: Option<Call>,
    /// The request context, sent back with conductor notifications.
    pub context: Context,
    /// The delivery to acknowledge.
    pub tag: u64,
    /// When the delivery arrived.
    pub started: Instant,
    /// The caller asked for the queued action at once (`async: true`).
    pub is_async: bool,
}

/// The span every line about one delivery is logged in.
fn delivery_span(id: Option<&WireId>, method: &str, call: bool) -> tracing::Span {
    let kind = if call { "call" } else { "cast" };
    tracing::info_span!(
        "delivery",
        id = id.map_or("", WireId::as_str),
        method = %shown(method),
        kind
    )
}

/// Handles one delivery: reads complete here, mutations go to the worker,
/// in arrival order (see `scheduler`).
pub async fn handle<D: Database, C: Commit>(
    shared: &Shared<D>,
    commit: &C,
    jobs: &mpsc::Sender<Job>,
    incoming: Incoming,
) {
    let started = Instant::now();
    let Incoming {
        mut body,
        tag,
        delivery_count,
    } = incoming;
    if let Some(n) = delivery_count {
        // A quorum queue counts: the message was handed out n times before
        // without being settled (the agent stopped, or its session broke).
        tracing::info!(tag, deliveries_before = n, "redelivered");
    }
    let decoded = shared.codec.decode_request(&body);
    // The body may hold passwords in the clear; do not leave it in freed memory.
    body.zeroize();
    let mut req = match decoded {
        Ok(r) => r,
        Err(de) => {
            // A call whose route is unusable is still a call to the reader.
            let call = de.call.is_some()
                || matches!(
                    de.error,
                    RpcError::BadField {
                        field: "_msg_id" | "_reply_q",
                        ..
                    }
                );
            let span = delivery_span(
                de.unique_id.as_ref(),
                de.method.as_deref().unwrap_or(""),
                call,
            );
            refuse_undecodable(shared, commit, de, tag)
                .instrument(span)
                .await;
            return;
        }
    };
    let span = delivery_span(req.unique_id.as_ref(), &req.method, req.call.is_some());
    let is_async = matches!(req.args.remove("async"), Some(Value::Bool(true)));
    // What the journal keeps of a mutation to recognise its message again;
    // the text holds any password in the clear, so it is wiped.
    let canonical = Zeroizing::new(Value::Object(req.args.clone()).to_string());
    let meta = Meta {
        id: req.unique_id.take(),
        method: req.method.clone(),
        call: req.call.take(),
        context: std::mem::take(&mut req.context),
        tag,
        started,
        is_async,
    };
    let parsed = Command::parse(&req.method, req.args, shared.db.protected(), shared.limits);
    async {
        let cmd = match parsed {
            Ok(c) => c,
            Err(e) => {
                let failure = failure_of(e.kind(), &meta.method, e.to_string());
                finish(shared, commit, meta, "refused", Err(failure)).await;
                return;
            }
        };
        if let Some(failure) = refusal(shared, &cmd, &meta) {
            finish(shared, commit, meta, "refused", Err(failure)).await;
            return;
        }
        if cmd.is_mutating() {
            let digest = shared.journal.digest(&meta.method, &canonical);
            let job = Job {
                cmd,
                meta,
                digest,
                span: tracing::Span::current(),
            };
            if let Err(mpsc::error::SendError(_)) = jobs.send(job).await {
                // The worker is gone: the session is closing. Leave the message
                // unacknowledged so the broker hands it out again.
                tracing::debug!("session closing; command left for redelivery");
            }
            return;
        }
        read(shared, commit, cmd, meta).await;
    }
    .instrument(span)
    .await;
}

/// A request the agent will not serve although it parsed.
fn refusal<D>(shared: &Shared<D>, cmd: &Command, meta: &Meta) -> Option<Failure> {
    if matches!(cmd, Command::EnableRoot(_)) && !shared.allow_root_enable {
        return Some(Failure::not_supported(
            "enabling root is switched off on this host (amqp.allow_root_enable = false)",
        ));
    }
    if cmd.is_mutating() && meta.call.is_none() && cmd.needs_generated_password() {
        return Some(Failure::bad_request(
            "no password given: a generated password can only be handed back to a call, \
             not a cast; send a password or make the request a call",
        ));
    }
    None
}

/// Answers (or silently rejects) a delivery that could not be decoded.
async fn refuse_undecodable<D, C: Commit>(
    shared: &Shared<D>,
    commit: &C,
    de: DecodeError,
    tag: u64,
) {
    let result = if de.error.is_silent() {
        // Telling the sender anything, even that it failed, would help
        // whoever forged it.
        tracing::warn!(reason = %shown(&de.error.detail()), "encrypted message refused without a reply");
        commit.reject(tag).await
    } else {
        tracing::warn!(reason = %shown(&de.error.to_string()), "message refused");
        match &de.call {
            Some(call) => {
                let body = shared.codec.encode_reply(&call.msg_id, Err(&de.failure()));
                commit.commit(&[reply_to(call, &body)], Some(tag)).await
            }
            None => commit.reject(tag).await,
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "refusal not sent; the broker will redeliver");
    }
}

/// Serves a command that changes nothing.
async fn read<D: Database, C: Commit>(shared: &Shared<D>, commit: &C, cmd: Command, meta: Meta) {
    let turn = shared.listings.enter(&cmd).await;
    let outcome =
        match apply_with_retry(shared, &cmd, &meta, Mode::Fresh, &Generated::default()).await {
            Some(o) => o,
            None => return,
        };
    let (label, outcome) = match outcome {
        Ok(v) => ("ok", Ok(v)),
        Err(e) => ("failed", Err(mysql_failure(&e, &meta.method))),
    };
    let size = finish(shared, commit, meta, label, outcome).await;
    // Held until the answer is committed: released at encoding instead, the
    // bodies waiting for their commit piled up (12.2 MiB at 32 in flight
    // instead of 11.0) for no gain in throughput.
    drop(turn);
    if label == "ok" {
        shared.listings.answered(&cmd, size);
    }
    if size >= super::listings::LARGE_ANSWER {
        shared.reclaimer.large_answer();
    }
}

/// Applies a command, retrying while mysqld is away, within the caller's
/// patience. `None` when shutdown came first: the command is then neither
/// answered nor acknowledged, and the broker redelivers it.
pub async fn apply_with_retry<D: Database>(
    shared: &Shared<D>,
    cmd: &Command,
    meta: &Meta,
    mode: Mode,
    generated: &Generated,
) -> Option<Result<Value, MysqlError>> {
    let window = match &meta.call {
        Some(c) => c.timeout.unwrap_or(shared.patience.call),
        None => shared.patience.cast,
    };
    let deadline = meta.started.checked_add(window).unwrap_or(meta.started);
    let mut backoff = Backoff::new();
    let mut waited = false;
    let mut mode = mode;
    loop {
        match cmd.apply(shared.env(), mode, generated).await {
            Err(e)
                if e.is_transient()
                    && Instant::now() < deadline
                    && !shared.shutdown.is_cancelled() =>
            {
                if !waited {
                    tracing::warn!(error = %e, "mysqld unavailable; retrying");
                    waited = true;
                }
                // mysqld may have applied part of it before going away (or
                // the statement may have landed and only its answer been
                // lost): the next attempt counts what is there as done.
                mode = Mode::Recovering;
                tokio::select! {
                    _ = shared.shutdown.cancelled() => {
                        tracing::info!("stopping; command left for redelivery");
                        return None;
                    }
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
            other => return Some(other),
        }
    }
}

/// The outgoing answer for a request: a reply for a call, a conductor
/// notification for a cast that asked for one.
pub fn answer_body<D>(
    shared: &Shared<D>,
    meta: &Meta,
    outcome: Result<&Value, &Failure>,
) -> Option<Vec<u8>> {
    match &meta.call {
        Some(call) => Some(shared.codec.encode_reply(&call.msg_id, outcome)),
        None => {
            let note = outcome.map(|_| ()).map_err(|f| f.message());
            shared
                .conductor
                .notification(&shared.codec, &meta.context, note)
        }
    }
}

/// Publishes the answer and acknowledges the delivery together. Returns
/// false when the broker did not take them (the delivery will come again).
pub async fn commit_answer<D, C: Commit>(
    shared: &Shared<D>,
    commit: &C,
    meta: &Meta,
    body: Option<&[u8]>,
) -> bool {
    let (exchange, topic) = shared.conductor.route();
    let out: Vec<Outgoing<'_>> = match (body, &meta.call) {
        (Some(b), Some(call)) => vec![reply_to(call, b)],
        (Some(b), None) => vec![Outgoing {
            exchange,
            routing_key: topic,
            body: b,
        }],
        (None, _) => Vec::new(),
    };
    match commit.commit(&out, Some(meta.tag)).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "answer not sent; the broker will redeliver");
            false
        }
    }
}

/// Answers, acknowledges, and logs the command's one line. Returns the
/// answer's size in bytes.
pub async fn finish<D, C: Commit>(
    shared: &Shared<D>,
    commit: &C,
    meta: Meta,
    label: &str,
    outcome: Result<Value, Failure>,
) -> usize {
    let body = answer_body(shared, &meta, outcome.as_ref());
    // The answer is encoded; the result's tree of values can go before the
    // broker round trip.
    let failure = outcome.err();
    commit_answer(shared, commit, &meta, body.as_deref()).await;
    log_line(&meta, label, failure.as_ref());
    body.map_or(0, |b| b.len())
}

/// The one log line per command (inside its delivery span: id, method,
/// kind): outcome and duration.
pub fn log_line(meta: &Meta, label: &str, failure: Option<&Failure>) {
    let ms = meta.started.elapsed().as_secs_f64() * 1000.0;
    let request_id = shown(meta.context.request_id().unwrap_or(""));
    match failure {
        None => {
            tracing::info!(outcome = label, duration_ms = ms, %request_id, "command")
        }
        Some(f) => {
            tracing::warn!(outcome = label, class = f.class(), error = %shown(f.message()), duration_ms = ms, %request_id, "command")
        }
    }
}

fn reply_to<'a>(call: &'a Call, body: &'a [u8]) -> Outgoing<'a> {
    Outgoing {
        exchange: "",
        routing_key: call.reply_q.as_str(),
        body,
    }
}

/// The failure the control plane sees for an error of mysqld's side.
pub fn mysql_failure(e: &MysqlError, method: &str) -> Failure {
    failure_of(mysql_failure_kind(e), method, e.to_string())
}

/// Builds the wire failure of a kind.
pub fn failure_of(kind: FailureKind, method: &str, message: String) -> Failure {
    match kind {
        FailureKind::BadRequest => Failure::bad_request(message),
        FailureKind::UserNotFound => Failure::user_not_found(message),
        FailureKind::DatabaseNotFound => Failure::database_not_found(message),
        FailureKind::GuestError => Failure::guest_error(message),
        FailureKind::NotSupported => Failure::not_supported(message),
        FailureKind::NoSuchMethod => Failure::no_such_method(method),
    }
}
