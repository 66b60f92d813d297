//! One delivery: decode → parse → route.
//!
//! Decoding makes the [`Delivery`] (its reply route and its span); a message
//! that does not decode is refused at once (`Responder::refuse_undecodable`).
//! Parsing makes the [`Command`]; a request that does not parse, or may not
//! run as sent, is refused with nothing done. Then reads run here, at once
//! and several together, and mutations go to the worker in `mutation`, which
//! journals them and runs them in line per account and database.
//!
//! Everything logged while a delivery is handled carries its `id`, `method`
//! and `kind` from the delivery's span.

// tokio's clock: paused in tests, so retry windows can be run through.
use tokio::time::Instant;

use serde_json::Value;
use tokio::sync::mpsc;
use tracing::Instrument;
use zeroize::{Zeroize, Zeroizing};

use super::delivery::{Delivery, Route};
use super::respond::Outcome;
use super::retry::apply_with_retry;
use super::shared::Shared;
use crate::amqp::Commit;
use crate::command::{self, Command, Read, Write, is_write};
use crate::model::{Attempt, Database};
use crate::rpc::{Failure, RpcError};

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

/// A parsed mutation waiting for the worker.
#[derive(Debug)]
pub struct Job {
    /// The command.
    pub cmd: Write,
    /// How to answer it.
    pub delivery: Delivery,
    /// The keyed digest of its method and arguments (see `Journal::digest`).
    pub digest: String,
}

/// Handles one delivery: reads complete here, mutations go to the worker,
/// in arrival order.
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
            let span = Delivery::span(
                de.unique_id.as_ref(),
                de.method.as_deref().unwrap_or(""),
                call,
            );
            shared
                .responder(commit)
                .refuse_undecodable(&de, tag)
                .instrument(span)
                .await;
            return;
        }
    };
    let call = req.call.take();
    let span = Delivery::span(req.unique_id.as_ref(), &req.method, call.is_some());
    let is_async = matches!(req.args.remove("async"), Some(Value::Bool(true)));
    // What the journal keeps of a mutation to recognise its message again.
    // The text holds any password in the clear, so it is wiped.
    // Written by serde_json's serializer directly (the same compact text as
    // `Value`'s `Display`, without going through `fmt`).
    let canonical = is_write(&req.method)
        .then(|| Zeroizing::new(serde_json::to_string(&req.args).unwrap_or_default()));
    let delivery = Delivery {
        id: req.unique_id.take(),
        method: std::mem::take(&mut req.method),
        route: call.map_or(Route::Conductor, Route::Reply),
        context: std::mem::take(&mut req.context),
        tag,
        started,
        is_async,
        span: span.clone(),
    };
    let parsed = Command::parse(&delivery.method, req.args, &shared.parse_cx());
    async {
        match parsed {
            Err(e) => {
                command::finished(&delivery.method, &shared.instance, false);
                let refused = Outcome::Refused(Failure::of(&e));
                shared.responder(commit).answer(&delivery, refused).await;
            }
            Ok(Command::Read(cmd)) => read(shared, commit, cmd, delivery).await,
            Ok(Command::Write(cmd)) => {
                let digest = shared
                    .journal
                    .digest(&delivery.method, canonical.as_deref().map_or("", |c| c));
                route_write(shared, commit, jobs, cmd, delivery, digest).await;
            }
        }
    }
    .instrument(span)
    .await;
}

/// Hands a mutation to the worker, unless it cannot run as sent.
async fn route_write<D: Database, C: Commit>(
    shared: &Shared<D>,
    commit: &C,
    jobs: &mpsc::Sender<Job>,
    cmd: Write,
    delivery: Delivery,
    digest: String,
) {
    if !delivery.is_call() && cmd.needs_generated_password() {
        cmd.finished(&shared.instance, false);
        let refused = Outcome::Refused(Failure::bad_request(
            "no password given: a generated password can only be handed back to a call, \
             not a cast; send a password or make the request a call",
        ));
        shared.responder(commit).answer(&delivery, refused).await;
        return;
    }
    let job = Job {
        cmd,
        delivery,
        digest,
    };
    if let Err(mpsc::error::SendError(_)) = jobs.send(job).await {
        // The worker is gone: the session is closing. Leave the message
        // unacknowledged so the broker hands it out again.
        tracing::debug!("session closing; command left for redelivery");
    }
}

/// Serves a command that changes nothing.
async fn read<D: Database, C: Commit>(shared: &Shared<D>, commit: &C, cmd: Read, d: Delivery) {
    let turn = shared.listings.enter(&cmd).await;
    let Some(result) = apply_with_retry(shared, &cmd, &d, Attempt::First).await else {
        return;
    };
    let ok = result.is_ok();
    let outcome = match result {
        Ok(v) => Outcome::Done(v),
        Err(e) => Outcome::Failed(Failure::of(&e)),
    };
    let sent = shared.responder(commit).answer(&d, outcome).await;
    // Held until the answer is committed: released at encoding instead, the
    // bodies waiting for their commit piled up (12.2 MiB at 32 in flight
    // instead of 11.0) for no gain in throughput.
    drop(turn);
    if ok {
        shared.listings.answered(&cmd, sent.bytes);
    }
    if sent.bytes >= super::listings::LARGE_ANSWER {
        shared.reclaimer.large_answer();
    }
}
