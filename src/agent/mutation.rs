//! Mutating commands: journaled, applied once, answered once.
//!
//! The worker receives commands in arrival order and puts each in line
//! (`scheduler`): commands on different accounts and databases run
//! concurrently, those sharing one in arrival order. For each:
//!
//! 1. a message whose `_unique_id` the journal knows is a redelivery or a
//!    resend, provided it carries the same command (the journal keeps a
//!    keyed digest of each): a finished action is answered from the
//!    journal, a queued one is applied, a running one is applied in recovery
//!    (what it already did counts as done). A known id with another command
//!    is refused, never applied in the journaled one's place;
//! 2. otherwise the action is admitted `running`, on disk before any SQL
//!    (an `async` call is admitted `queued`, answered, then started);
//! 3. passwords the caller left to the agent are generated;
//! 4. apply, then `success`/`failed` with the outcome, on disk before the
//!    answer;
//! 5. the answer and the acknowledgement commit together at the broker, then
//!    the action is marked answered.
//!
//! A crash before 5 leaves the message unacknowledged: the broker hands it
//! out again and step 1 finishes the job without doing it twice.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::delivery::Delivery;
use super::handler::Job;
use super::respond::Outcome;
use super::retry::apply_with_retry;
use super::scheduler::Gate;
use super::shared::Shared;
use crate::amqp::Commit;
use crate::command::{Answer, Write};
use crate::journal::{Action, NewAction, Status};
use crate::model::{Attempt, Database};
use crate::rpc::Failure;

/// Receives mutating commands in the order they arrived and runs each as
/// soon as no earlier one shares an account or database with it. Returns
/// once the channel is closed and every command in hand has finished.
pub async fn worker<D, C>(shared: Arc<Shared<D>>, commit: C, mut jobs: mpsc::Receiver<Job>)
where
    D: Database + Send + Sync + 'static,
    C: Commit + Clone + Send + 'static,
{
    let tasks = TaskTracker::new();
    while let Some(job) = jobs.recv().await {
        // In arrival order: one that changes every account waits here for
        // every earlier mutation, and every later one waits for it.
        let alone = shared
            .scheduler
            .instance_turn(job.cmd.is_instance_wide())
            .await;
        let mut gates: Vec<Gate> = job.cmd.gates().into_iter().map(Gate::Resource).collect();
        if let Some(id) = &job.delivery.id {
            // Two deliveries of one message must not both find it unknown.
            gates.push(Gate::Message(id.as_str().to_owned()));
        }
        let mut turn = shared.scheduler.enter(gates);
        let shared = shared.clone();
        let commit = commit.clone();
        let span = job.delivery.span.clone();
        tasks.spawn(
            async move {
                turn.ready().await;
                run(&shared, &commit, job).await;
                drop((turn, alone));
            }
            .instrument(span),
        );
    }
    tasks.close();
    tasks.wait().await;
}

async fn run<D: Database, C: Commit>(shared: &Shared<D>, commit: &C, job: Job) {
    let Job {
        mut cmd,
        delivery: d,
        digest,
    } = job;
    let responder = shared.responder(commit);
    let known =
        d.id.as_ref()
            .and_then(|id| shared.journal.find_unique(id.as_str()));
    if let Some(a) = &known
        && a.digest.as_deref().is_some_and(|k| k != digest)
    {
        tracing::warn!(
            action = a.id,
            "a message reuses the id of another command; refused"
        );
        let refused = Outcome::Refused(Failure::bad_request(
            "this message's _unique_id belongs to another command; it is not applied",
        ));
        responder.answer(&d, refused).await;
        return;
    }
    let early = d.is_async && d.is_call();
    let (action, attempt) = match known {
        Some(a) if a.status.is_finished() && a.answered && !d.is_call() => {
            // A cast published twice (oslo republishes when its connection
            // broke before it knew the first went out) whose outcome the
            // conductor already has: a second notification would be a
            // second outcome.
            tracing::info!(
                action = a.id,
                "already applied and reported; acknowledged without a second notification"
            );
            responder.answer(&d, Outcome::Duplicate).await;
            return;
        }
        Some(a) if a.status.is_finished() => {
            tracing::info!(action = a.id, "already applied; answering from the journal");
            cmd.finished(&shared.instance, a.status == Status::Success);
            let recorded = match a.status {
                Status::Success => Ok(a.result.clone().unwrap_or(Value::Null)),
                _ => {
                    let (class, message) = a.failure_parts();
                    Err(Failure::new(class, message))
                }
            };
            answer(shared, commit, &cmd, &d, &a, recorded, Source::Journal).await;
            return;
        }
        Some(a) if a.status == Status::Running => {
            tracing::info!(action = a.id, "interrupted while running; finishing it");
            (a, Attempt::Recovery)
        }
        Some(a) => (a, Attempt::First),
        None => {
            let new = NewAction {
                action_type: cmd.action(),
                method: d.method.clone(),
                unique_id: d.id.as_ref().map(|id| id.as_str().to_owned()),
                resources: cmd.resources(),
                changed: cmd.changed(),
                requested_by: d.context.user(),
                context: Some(d.context.without_credentials()),
                call: d.is_call(),
                digest: Some(digest),
            };
            // An async call is answered with its queued action before it
            // runs; everything else is on disk as running before any SQL.
            let admitted = if early {
                shared.journal.admit(new).await
            } else {
                shared.journal.admit_running(new).await
            };
            match admitted {
                Ok(a) => (a, Attempt::First),
                Err(e) => {
                    // Without a durable record the command must not run: it
                    // goes back to the queue, to be tried again.
                    tracing::error!(error = %e, "cannot journal the command; not applying it");
                    responder.requeue(&d).await;
                    return;
                }
            }
        }
    };
    let generated = match cmd.generate_passwords() {
        Ok(g) => g,
        Err(e) => {
            record_and_answer(
                shared,
                commit,
                &cmd,
                &d,
                action.id,
                Err(Failure::of(&e)),
                None,
            )
            .await;
            return;
        }
    };
    let mut answered_early = false;
    if early {
        // The caller wants the queued action now and will read the outcome
        // with get_action; the generated password goes with it, once.
        let reply = json!({"action": action.public_json(), "passwords": generated.to_json()});
        if !responder
            .answer(&d, Outcome::Queued(reply.into()))
            .await
            .committed
        {
            return;
        }
        answered_early = true;
    }
    if action.status == Status::Queued
        && let Err(e) = shared.journal.start(action.id).await
    {
        tracing::error!(error = %e, "cannot journal the start; not applying it");
        if !answered_early {
            responder.requeue(&d).await;
        }
        return;
    }
    let slot = shared.scheduler.slot().await;
    // Boxed: the SQL's future is most of a mutation's state, and only the
    // few holding a slot need it; the others wait in a small one.
    let applied = Box::pin(apply_with_retry(shared, &cmd, &d, attempt)).await;
    drop(slot);
    let Some(result) = applied else {
        return;
    };
    let result = result.map_err(|e| Failure::of(&e));
    cmd.finished(&shared.instance, result.is_ok());
    if answered_early {
        let stored = journaled(&cmd, &result);
        match shared
            .journal
            .finish(action.id, stored)
            .await
            .and_then(|a| shared.journal.answered(a.id).map(|()| a))
        {
            Ok(a) => tracing::info!(action = a.id, status = ?a.status, "async action finished"),
            Err(e) => tracing::error!(error = %e, "cannot journal the outcome"),
        }
        return;
    }
    let passwords = (!generated.is_empty()).then(|| generated.to_json());
    drop(generated);
    record_and_answer(shared, commit, &cmd, &d, action.id, result, passwords).await;
}

/// Records the outcome, answers, and marks the action answered.
async fn record_and_answer<D: Database, C: Commit>(
    shared: &Shared<D>,
    commit: &C,
    cmd: &Write,
    d: &Delivery,
    id: u64,
    result: Result<Value, Failure>,
    passwords: Option<Value>,
) {
    let action = match shared.journal.finish(id, journaled(cmd, &result)).await {
        Ok(a) => a,
        Err(e) => {
            // Redelivered, it finds the action running and finishes it in
            // recovery, without doing it twice.
            tracing::error!(error = %e, "cannot journal the outcome; the command goes back to the queue");
            shared.responder(commit).requeue(d).await;
            return;
        }
    };
    answer(
        shared,
        commit,
        cmd,
        d,
        &action,
        result,
        Source::Fresh(passwords),
    )
    .await;
}

/// Where an answer's outcome comes from.
#[derive(Debug)]
enum Source {
    /// The command just ran; with the passwords it generated, if any.
    Fresh(Option<Value>),
    /// A resent or redelivered command, answered from the journal.
    Journal,
}

/// Publishes the outcome (in the action shape where the request asks for
/// it), acknowledges, and marks the action answered.
async fn answer<D: Database, C: Commit>(
    shared: &Shared<D>,
    commit: &C,
    cmd: &Write,
    d: &Delivery,
    action: &Action,
    result: Result<Value, Failure>,
    source: Source,
) {
    // A call to a method Trove sends as a cast, and regenerate_password,
    // get `{"action", "passwords"}` instead of Trove's shape.
    let result = match result {
        Ok(_) if d.is_call() && cmd.replies_with_action() => {
            let passwords = match &source {
                Source::Fresh(Some(p)) => p.clone(),
                _ => json!({}),
            };
            Ok(json!({"action": action.public_json(), "passwords": passwords}))
        }
        other => other,
    };
    let outcome = match (source, result) {
        (Source::Fresh(_), Ok(v)) => Outcome::Done(v.into()),
        (Source::Fresh(_), Err(f)) => Outcome::Failed(f),
        (Source::Journal, recorded) => Outcome::Recorded(recorded.map(Answer::Value)),
    };
    let sent = shared.responder(commit).answer(d, outcome).await;
    let marked = if sent.committed {
        shared.journal.answered(action.id)
    } else {
        shared.journal.unsent(action.id)
    };
    if let Err(e) = marked {
        tracing::warn!(error = %e, "cannot journal whether the answer went out");
    }
}

/// What the journal keeps of an outcome: never a password.
fn journaled(
    cmd: &Write,
    result: &Result<Value, Failure>,
) -> Result<Option<Value>, (crate::model::WireClass, String)> {
    match result {
        Ok(v) => Ok(Some(cmd.journaled(v.clone()))),
        Err(f) => Err((f.class(), f.message().to_owned())),
    }
}
