//! Answering: the one path every outcome leaves the agent by.
//!
//! [`Responder::answer`] encodes a delivery's [`Outcome`] for its route (a
//! reply for a call, a conductor notification for a cast that asked for
//! one), commits it together with the delivery's acknowledgement through
//! the [`Commit`] seam, and logs the command's one line: its outcome and
//! duration, inside the delivery's span (id, method, kind). Refusals of
//! messages that do not decode, and the recovery sweep's notifications of
//! outcomes whose messages never came back, go out through the same
//! responder.

use serde_json::Value;

use super::delivery::{Delivery, Route};
use crate::amqp::{Commit, Outgoing};
use crate::command::Answer;
use crate::conductor::Conductor;
use crate::logging::shown;
use crate::rpc::{Call, Codec, Context, DecodeError, Failure};

/// How long a command that could not be journaled waits before it goes
/// back to its queue: a full disk is not fixed in a moment, and the queue
/// must not spin.
const REQUEUE_PAUSE: std::time::Duration = std::time::Duration::from_secs(5);

/// What became of a request.
#[derive(Debug)]
pub enum Outcome {
    /// Served: the result.
    Done(Answer),
    /// Served, and it failed.
    Failed(Failure),
    /// Refused before anything was done (it did not parse, or may not run).
    Refused(Failure),
    /// A resent or redelivered command, answered from the journal.
    Recorded(Result<Answer, Failure>),
    /// An `async` call answered with its queued action; the work goes on.
    Queued(Answer),
    /// A cast published twice whose outcome the conductor already has:
    /// acknowledged with no second notification.
    Duplicate,
}

impl Outcome {
    /// The word the command's log line carries.
    fn label(&self) -> &'static str {
        match self {
            Outcome::Done(_) => "ok",
            Outcome::Failed(_) => "failed",
            Outcome::Refused(_) => "refused",
            Outcome::Recorded(_) | Outcome::Duplicate => "duplicate",
            Outcome::Queued(_) => "queued",
        }
    }

    /// What the caller is told; `None` when nothing is published.
    fn wire(&self) -> Option<Result<&Answer, &Failure>> {
        match self {
            Outcome::Done(v) | Outcome::Queued(v) | Outcome::Recorded(Ok(v)) => Some(Ok(v)),
            Outcome::Failed(f) | Outcome::Refused(f) | Outcome::Recorded(Err(f)) => Some(Err(f)),
            Outcome::Duplicate => None,
        }
    }

    fn failure(&self) -> Option<&Failure> {
        self.wire().and_then(Result::err)
    }

    /// The outcome without its result, for the log line once the answer
    /// is encoded: a listing's value tree (1–2 MiB for 1,000 accounts)
    /// need not live on while the commit waits for the broker.
    fn encoded(self) -> Outcome {
        match self {
            Outcome::Done(_) => Outcome::Done(Answer::Value(Value::Null)),
            Outcome::Queued(_) => Outcome::Queued(Answer::Value(Value::Null)),
            Outcome::Recorded(Ok(_)) => Outcome::Recorded(Ok(Answer::Value(Value::Null))),
            other => other,
        }
    }
}

/// What answering did.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// The broker took the answer and the acknowledgement: the delivery is
    /// settled. When false, it will be delivered again.
    pub committed: bool,
    /// The answer's size in bytes (0 when nothing was published).
    pub bytes: usize,
}

/// Encodes outcomes and commits them with the deliveries they answer.
#[derive(Debug)]
pub struct Responder<'a, C> {
    codec: &'a Codec,
    conductor: &'a Conductor,
    commit: &'a C,
}

impl<'a, C: Commit> Responder<'a, C> {
    /// A responder publishing through `commit`.
    pub fn new(codec: &'a Codec, conductor: &'a Conductor, commit: &'a C) -> Self {
        Responder {
            codec,
            conductor,
            commit,
        }
    }

    /// Answers a delivery and acknowledges it in one transaction, then logs
    /// its line. Call inside the delivery's span.
    pub async fn answer(&self, d: &Delivery, outcome: Outcome) -> Sent {
        let body = outcome.wire().and_then(|wire| self.encode(d, wire));
        let outcome = outcome.encoded();
        let out: Vec<Outgoing<'_>> = match (&body, &d.route) {
            (Some(b), Route::Reply(call)) => vec![reply_to(call, b)],
            (Some(b), Route::Conductor) => vec![self.to_conductor(b)],
            (None, _) => Vec::new(),
        };
        let committed = match self.commit.commit(&out, Some(d.tag)).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "answer not sent; the broker will redeliver");
                false
            }
        };
        log_line(d, &outcome);
        Sent {
            committed,
            bytes: body.map_or(0, |b| b.len()),
        }
    }

    /// The body of an outcome for the delivery's route: a reply, or a
    /// notification when the cast's context asks for one.
    fn encode(&self, d: &Delivery, wire: Result<&Answer, &Failure>) -> Option<Vec<u8>> {
        match &d.route {
            Route::Reply(call) => Some(self.codec.encode_reply(&call.msg_id, wire)),
            Route::Conductor => {
                let note = wire.map(|_| ());
                self.conductor.notification(self.codec, &d.context, note)
            }
        }
    }

    /// Answers a message that did not decode: a failure reply when it is a
    /// call the agent can answer, else a rejection without requeue; and no
    /// word at all to the sender of a message that must not be answered
    /// (it does not decrypt, or reuses another message's ciphertext).
    pub async fn refuse_undecodable(&self, de: &DecodeError, tag: u64) {
        let result = if de.error.is_silent() {
            tracing::warn!(reason = %shown(&de.error.detail()), "encrypted message refused without a reply");
            self.commit.reject(tag).await
        } else {
            tracing::warn!(reason = %shown(&de.error.to_string()), "message refused");
            match &de.call {
                Some(call) => {
                    let body = self.codec.encode_failure(&call.msg_id, &de.failure());
                    self.commit
                        .commit(&[reply_to(call, &body)], Some(tag))
                        .await
                }
                None => self.commit.reject(tag).await,
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "refusal not sent; the broker will redeliver");
        }
    }

    /// Hands a delivery back to its queue after a pause: the command could
    /// not be journaled (a full disk), and holding it unacknowledged would
    /// hold one of the session's prefetch slots until the session ends.
    /// Redelivered, it is tried again from the start.
    pub async fn requeue(&self, d: &Delivery) {
        tokio::time::sleep(REQUEUE_PAUSE).await;
        match self.commit.requeue(d.tag).await {
            Ok(()) => tracing::warn!("handed back to the queue, to be tried again"),
            Err(e) => tracing::warn!(error = %e, "not handed back; the broker will redeliver"),
        }
    }

    /// Tells the conductor the outcome of a cast whose message is gone
    /// (the recovery sweep). `Ok(false)` when its context asked for no
    /// notification.
    pub async fn notify(
        &self,
        context: &Context,
        outcome: Result<(), &Failure>,
    ) -> Result<bool, crate::amqp::AmqpError> {
        let Some(body) = self.conductor.notification(self.codec, context, outcome) else {
            return Ok(false);
        };
        self.commit
            .commit(&[self.to_conductor(&body)], None)
            .await?;
        Ok(true)
    }

    fn to_conductor<'b>(&'b self, body: &'b [u8]) -> Outgoing<'b> {
        let (exchange, routing_key) = self.conductor.route();
        Outgoing {
            exchange,
            routing_key,
            body,
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

/// The one log line per command (inside its delivery span: id, method,
/// kind): outcome and duration.
fn log_line(d: &Delivery, outcome: &Outcome) {
    let ms = d.started.elapsed().as_secs_f64() * 1000.0;
    let request_id = shown(d.context.request_id().unwrap_or(""));
    let label = outcome.label();
    match outcome.failure() {
        None => tracing::info!(outcome = label, duration_ms = ms, %request_id, "command"),
        Some(f) => {
            tracing::warn!(outcome = label, class = f.class().name(), error = %shown(f.message()), duration_ms = ms, %request_id, "command")
        }
    }
}
