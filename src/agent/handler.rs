//! One delivery, from bytes to acknowledgement.
//!
//! The order matters: decode and parse (refusals are answered at once), apply
//! (with retries while mysqld is away), then publish the answer (a reply for
//! a call, a conductor notification for a cast) and acknowledge the delivery
//! in one broker transaction. A message that can never be served is rejected
//! without requeue, its reason logged, so it cannot loop. Mutating commands
//! go to the worker in `mutation`, which journals them.

use std::time::{Duration, Instant};

use lapin::message::Delivery;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroize;

use super::backoff::Backoff;
use crate::amqp::{Answerer, Outgoing};
use crate::command::{Command, Env, FailureKind, Generated, Limits, mysql_failure_kind};
use crate::conductor::Conductor;
use crate::journal::Journal;
use crate::mysql::users::Mode;
use crate::mysql::{Mysql, MysqlError};
use crate::rpc::{Call, Codec, Context, Failure};

/// What every handler shares.
#[derive(Debug)]
pub struct Shared {
    /// Envelope and crypto.
    pub codec: Codec,
    /// mysqld.
    pub mysql: Mysql,
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
}

impl Shared {
    /// True while mysqld's socket file exists.
    pub fn mysql_socket_exists(&self) -> bool {
        self.mysql_socket.exists()
    }

    /// What commands run against.
    pub fn env(&self) -> Env<'_> {
        Env {
            db: &self.mysql,
            journal: &self.journal,
        }
    }
}

/// How long a cast may wait for mysqld to come back before it is failed.
const CAST_RETRY_WINDOW: Duration = Duration::from_secs(300);
/// The same for a call that gave no `_timeout`.
const CALL_RETRY_WINDOW: Duration = Duration::from_secs(60);

/// A parsed mutating command waiting for the worker.
#[derive(Debug)]
pub struct Job {
    /// The command.
    pub cmd: Command,
    /// How to answer it.
    pub meta: Meta,
}

/// What is needed to answer and acknowledge a request.
#[derive(Debug)]
pub struct Meta {
    /// The message's `_unique_id` (empty when it had none).
    pub id: String,
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

/// Handles one delivery: reads complete here, mutations go to the worker so
/// they apply one at a time in arrival order.
pub async fn handle(
    shared: &Shared,
    answerer: &Answerer,
    jobs: &mpsc::Sender<Job>,
    delivery: Delivery,
) {
    let started = Instant::now();
    let Delivery {
        mut data,
        delivery_tag: tag,
        ..
    } = delivery;
    let decoded = shared.codec.decode_request(&data);
    // The body may hold passwords in the clear; do not leave it in freed memory.
    data.zeroize();
    let mut req = match decoded {
        Ok(r) => r,
        Err(de) => {
            let id = de.unique_id.clone().unwrap_or_default();
            let method = de.method.clone().unwrap_or_default();
            tracing::warn!(id = %id, method = %method, reason = %de.error, "message refused");
            let result = match &de.call {
                Some(call) => {
                    let body = shared.codec.encode_reply(&call.msg_id, Err(&de.failure()));
                    answerer.commit(&[reply_to(call, &body)], Some(tag)).await
                }
                None => answerer.reject(tag).await,
            };
            if let Err(e) = result {
                tracing::warn!(id = %id, error = %e, "refusal not sent; the broker will redeliver");
            }
            return;
        }
    };
    let is_async = matches!(req.args.remove("async"), Some(Value::Bool(true)));
    let meta = Meta {
        id: req.unique_id.take().unwrap_or_default(),
        method: req.method.clone(),
        call: req.call.take(),
        context: std::mem::take(&mut req.context),
        tag,
        started,
        is_async,
    };
    let cmd = match Command::parse(
        &req.method,
        req.args,
        shared.mysql.protected(),
        shared.limits,
    ) {
        Ok(c) => c,
        Err(e) => {
            let failure = failure_of(e.kind(), &meta.method, e.to_string());
            finish(shared, answerer, meta, "refused", Err(failure)).await;
            return;
        }
    };
    if cmd.is_mutating() {
        if meta.call.is_none() && cmd.needs_generated_password() {
            let failure = Failure::bad_request(
                "no password given: a generated password can only be handed back to a call, \
                 not a cast; send a password or make the request a call",
            );
            finish(shared, answerer, meta, "refused", Err(failure)).await;
            return;
        }
        if let Err(mpsc::error::SendError(job)) = jobs.send(Job { cmd, meta }).await {
            // The worker is gone: the session is closing. Leave the message
            // unacknowledged so the broker hands it out again.
            tracing::debug!(id = %job.meta.id, "session closing; command left for redelivery");
        }
        return;
    }
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
    let size = finish(shared, answerer, meta, label, outcome).await;
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
pub async fn apply_with_retry(
    shared: &Shared,
    cmd: &Command,
    meta: &Meta,
    mode: Mode,
    generated: &Generated,
) -> Option<Result<Value, MysqlError>> {
    let window = match &meta.call {
        Some(c) => c.timeout.map_or(CALL_RETRY_WINDOW, Duration::from_secs_f64),
        None => CAST_RETRY_WINDOW,
    };
    let deadline = meta.started + window;
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
                    tracing::warn!(id = %meta.id, method = %meta.method, error = %e, "mysqld unavailable; retrying");
                    waited = true;
                }
                // mysqld may have applied part of it before going away (or
                // the statement may have landed and only its answer been
                // lost): the next attempt counts what is there as done.
                mode = Mode::Recovering;
                tokio::select! {
                    _ = shared.shutdown.cancelled() => {
                        tracing::info!(id = %meta.id, method = %meta.method, "stopping; command left for redelivery");
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
pub fn answer_body(
    shared: &Shared,
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
pub async fn commit_answer(
    shared: &Shared,
    answerer: &Answerer,
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
    match answerer.commit(&out, Some(meta.tag)).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(id = %meta.id, error = %e, "answer not sent; the broker will redeliver");
            false
        }
    }
}

/// Answers, acknowledges, and logs the command's one line. Returns the
/// answer's size in bytes.
pub async fn finish(
    shared: &Shared,
    answerer: &Answerer,
    meta: Meta,
    label: &str,
    outcome: Result<Value, Failure>,
) -> usize {
    let body = answer_body(shared, &meta, outcome.as_ref());
    // The answer is encoded; the result's tree of values can go before the
    // broker round trip.
    let failure = outcome.err();
    commit_answer(shared, answerer, &meta, body.as_deref()).await;
    log_line(&meta, label, failure.as_ref());
    body.map_or(0, |b| b.len())
}

/// The one log line per command: id, method, kind, outcome, duration.
pub fn log_line(meta: &Meta, label: &str, failure: Option<&Failure>) {
    let ms = meta.started.elapsed().as_secs_f64() * 1000.0;
    let kind = if meta.call.is_some() { "call" } else { "cast" };
    let request_id = meta.context.request_id().unwrap_or("");
    match failure {
        None => {
            tracing::info!(id = %meta.id, method = %meta.method, kind, outcome = label, duration_ms = ms, request_id, "command")
        }
        Some(f) => {
            tracing::warn!(id = %meta.id, method = %meta.method, kind, outcome = label, class = f.class(), error = f.message(), duration_ms = ms, request_id, "command")
        }
    }
}

fn reply_to<'a>(call: &'a Call, body: &'a [u8]) -> Outgoing<'a> {
    Outgoing {
        exchange: "",
        routing_key: &call.reply_q,
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
        FailureKind::Unprocessable => Failure::unprocessable(message),
        FailureKind::GuestError => Failure::guest_error(message),
        FailureKind::NotSupported => Failure::not_supported(message),
        FailureKind::NoSuchMethod => Failure::no_such_method(method),
    }
}
