//! One delivery, from bytes to acknowledgement.
//!
//! The order matters: decode and parse (refusals are answered at once), apply
//! (with retries while mysqld is away), publish the answer (a reply for a
//! call, a conductor notification for a cast), and only then acknowledge.
//! A message that can never be served is rejected without requeue, with its
//! reason logged, so it cannot loop.

use std::time::{Duration, Instant};

use lapin::Acker;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicRejectOptions};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroize;

use super::backoff::Backoff;
use crate::amqp::Publisher;
use crate::command::{Command, FailureKind, Limits, mysql_failure_kind};
use crate::conductor::Conductor;
use crate::mysql::Mysql;
use crate::rpc::{Call, Codec, Context, Failure};

/// What every handler shares.
#[derive(Debug)]
pub struct Shared {
    /// Envelope and crypto.
    pub codec: Codec,
    /// mysqld.
    pub mysql: Mysql,
    /// Where cast outcomes go.
    pub conductor: Conductor,
    /// Parse limits.
    pub limits: Limits,
    /// Cancelled on shutdown.
    pub shutdown: CancellationToken,
    /// mysqld's socket, to tell "stopped" from "broken" in heartbeats.
    pub mysql_socket: std::path::PathBuf,
}

impl Shared {
    /// True while mysqld's socket file exists.
    pub fn mysql_socket_exists(&self) -> bool {
        self.mysql_socket.exists()
    }
}

/// How long a cast may wait for mysqld to come back before it is failed.
const CAST_RETRY_WINDOW: Duration = Duration::from_secs(300);
/// The same for a call that gave no `_timeout`.
const CALL_RETRY_WINDOW: Duration = Duration::from_secs(60);

/// A parsed command waiting for the mutation worker.
#[derive(Debug)]
pub struct Job {
    cmd: Command,
    meta: Meta,
}

/// What is needed to answer and acknowledge a request.
#[derive(Debug)]
struct Meta {
    id: String,
    method: String,
    call: Option<Call>,
    context: Context,
    acker: Acker,
    started: Instant,
}

/// Handles one delivery. Mutating commands are handed to the worker so they
/// apply one at a time in arrival order; everything else completes here.
pub async fn handle(
    shared: &Shared,
    publisher: &Publisher,
    jobs: &mpsc::Sender<Job>,
    delivery: Delivery,
) {
    let started = Instant::now();
    let Delivery {
        mut data, acker, ..
    } = delivery;
    let decoded = shared.codec.decode_request(&data);
    // The body may hold passwords in the clear; do not leave it in freed memory.
    data.zeroize();
    let req = match decoded {
        Ok(r) => r,
        Err(de) => {
            let id = de.unique_id.clone().unwrap_or_default();
            let method = de.method.clone().unwrap_or_default();
            tracing::warn!(id = %id, method = %method, reason = %de.error, "message refused");
            if let Some(call) = &de.call {
                reply(shared, publisher, call, Err(&de.error.failure())).await;
            }
            reject(&acker).await;
            return;
        }
    };
    let meta = Meta {
        id: req.unique_id.clone().unwrap_or_default(),
        method: req.method.clone(),
        call: req.call,
        context: req.context,
        acker,
        started,
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
            finish(shared, publisher, meta, "refused", Err(failure)).await;
            return;
        }
    };
    if cmd.is_mutating() {
        if let Err(mpsc::error::SendError(job)) = jobs.send(Job { cmd, meta }).await {
            // The worker is gone: the session is closing. Leave the message
            // unacknowledged so the broker hands it out again.
            tracing::debug!(id = %job.meta.id, "session closing; command left for redelivery");
        }
        return;
    }
    execute(shared, publisher, cmd, meta).await;
}

/// Applies mutating commands one at a time, in the order they arrived.
pub async fn mutation_worker(
    shared: std::sync::Arc<Shared>,
    publisher: Publisher,
    mut jobs: mpsc::Receiver<Job>,
) {
    while let Some(job) = jobs.recv().await {
        execute(&shared, &publisher, job.cmd, job.meta).await;
    }
}

async fn execute(shared: &Shared, publisher: &Publisher, cmd: Command, meta: Meta) {
    let window = match &meta.call {
        Some(c) => c.timeout.map_or(CALL_RETRY_WINDOW, Duration::from_secs_f64),
        None => CAST_RETRY_WINDOW,
    };
    let deadline = meta.started + window;
    let mut backoff = Backoff::new();
    let mut waited = false;
    let outcome = loop {
        match cmd.apply(&shared.mysql).await {
            Err(e)
                if e.is_transient()
                    && Instant::now() < deadline
                    && !shared.shutdown.is_cancelled() =>
            {
                if !waited {
                    tracing::warn!(id = %meta.id, method = %meta.method, error = %e, "mysqld unavailable; retrying");
                    waited = true;
                }
                tokio::select! {
                    _ = shared.shutdown.cancelled() => {
                        // Stopping: not answered, not acknowledged, redelivered later.
                        tracing::info!(id = %meta.id, method = %meta.method, "stopping; command left for redelivery");
                        return;
                    }
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
            other => break other,
        }
    };
    let (label, outcome) = match outcome {
        Ok(v) => ("ok", Ok(v)),
        Err(e) => (
            "failed",
            Err(failure_of(
                mysql_failure_kind(&e),
                &meta.method,
                e.to_string(),
            )),
        ),
    };
    finish(shared, publisher, meta, label, outcome).await;
}

/// Publishes the answer, acknowledges, and logs the command's one line.
async fn finish(
    shared: &Shared,
    publisher: &Publisher,
    meta: Meta,
    label: &str,
    outcome: Result<Value, Failure>,
) {
    let answered = match &meta.call {
        Some(call) => reply(shared, publisher, call, outcome.as_ref()).await,
        None => {
            let note = outcome.as_ref().map(|_| ()).map_err(|f| f.message());
            match shared
                .conductor
                .notify(publisher, &shared.codec, &meta.context, note)
                .await
            {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(id = %meta.id, error = %e, "conductor notification not sent");
                    false
                }
            }
        }
    };
    let ms = meta.started.elapsed().as_secs_f64() * 1000.0;
    let kind = if meta.call.is_some() { "call" } else { "cast" };
    match &outcome {
        Ok(_) => {
            tracing::info!(id = %meta.id, method = %meta.method, kind, outcome = label, duration_ms = ms, request_id = meta.context.request_id().unwrap_or(""), "command")
        }
        Err(f) => {
            tracing::warn!(id = %meta.id, method = %meta.method, kind, outcome = label, class = f.class(), error = f.message(), duration_ms = ms, request_id = meta.context.request_id().unwrap_or(""), "command")
        }
    }
    if answered && let Err(e) = meta.acker.ack(BasicAckOptions::default()).await {
        tracing::warn!(id = %meta.id, error = %e, "ack failed; the broker will redeliver");
    }
    // Not answered means the broker connection is failing: leaving the
    // message unacknowledged lets the broker hand it out again.
}

/// Publishes a reply to a call; false when it could not be published.
async fn reply(
    shared: &Shared,
    publisher: &Publisher,
    call: &Call,
    outcome: Result<&Value, &Failure>,
) -> bool {
    let body = shared.codec.encode_reply(&call.msg_id, outcome);
    match publisher.publish("", &call.reply_q, &body).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(msg_id = %call.msg_id, error = %e, "reply not sent");
            false
        }
    }
}

async fn reject(acker: &Acker) {
    if let Err(e) = acker.reject(BasicRejectOptions { requeue: false }).await {
        tracing::warn!(error = %e, "reject failed");
    }
}

fn failure_of(kind: FailureKind, method: &str, message: String) -> Failure {
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
