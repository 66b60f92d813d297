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
//!    mode (what it already did counts as done). A known id with another
//!    command is refused, never applied in the journaled one's place;
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

use super::handler::{
    Job, Meta, Shared, answer_body, apply_with_retry, commit_answer, failure_of, finish, log_line,
    mysql_failure,
};
use crate::amqp::Commit;
use crate::command::{Command, Database, FailureKind};
use crate::journal::{Action, NewAction, Status};
use crate::mysql::users::Mode;
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
        let mut gates = job.cmd.gates();
        if let Some(id) = &job.meta.id {
            // Two deliveries of one message must not both find it unknown.
            gates.push(format!("id:{}", id.as_str()));
        }
        let mut turn = shared.scheduler.enter(gates);
        let shared = shared.clone();
        let commit = commit.clone();
        let span = job.span.clone();
        tasks.spawn(
            async move {
                turn.ready().await;
                run(&shared, &commit, job).await;
                drop(turn);
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
        meta,
        digest,
        ..
    } = job;
    let known = meta
        .id
        .as_ref()
        .and_then(|id| shared.journal.find_unique(id.as_str()));
    if let Some(a) = &known
        && a.digest.as_deref().is_some_and(|d| d != digest)
    {
        tracing::warn!(
            action = a.id,
            "a message reuses the id of another command; refused"
        );
        let failure = Failure::bad_request(
            "this message's _unique_id belongs to another command; it is not applied",
        );
        finish(shared, commit, meta, "refused", Err(failure)).await;
        return;
    }
    let early = meta.is_async && meta.call.is_some();
    let (action, mode) = match known {
        Some(a) if a.status.is_finished() && a.answered && meta.call.is_none() => {
            // A cast published twice (oslo republishes when its connection
            // broke before it knew the first went out) whose outcome the
            // conductor already has: a second notification would be a
            // second outcome.
            tracing::info!(
                action = a.id,
                "already applied and reported; acknowledged without a second notification"
            );
            finish_silently(shared, commit, meta).await;
            return;
        }
        Some(a) if a.status.is_finished() => {
            tracing::info!(action = a.id, "already applied; answering from the journal");
            answer_recorded(shared, commit, &cmd, meta, a).await;
            return;
        }
        Some(a) if a.status == Status::Running => {
            tracing::info!(action = a.id, "interrupted while running; finishing it");
            (a, Mode::Recovering)
        }
        Some(a) => (a, Mode::Fresh),
        None => {
            let Some((action_type, resource_type, resource_id)) = cmd.action() else {
                return;
            };
            let new = NewAction {
                action_type,
                resource_type,
                resource_id,
                method: meta.method.clone(),
                unique_id: meta.id.as_ref().map(|id| id.as_str().to_owned()),
                resources: cmd.resources(),
                context: Some(meta.context.without_credentials()),
                call: meta.call.is_some(),
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
                Ok(a) => (a, Mode::Fresh),
                Err(e) => {
                    // Without a durable record the command must not run: leave
                    // it unacknowledged for the broker to hand out again.
                    tracing::error!(error = %e, "cannot journal the command; not applying it");
                    return;
                }
            }
        }
    };
    let generated = match cmd.generate_passwords() {
        Ok(g) => g,
        Err(e) => {
            let failure = mysql_failure(&e, &meta.method);
            record_and_answer(shared, commit, &cmd, meta, action.id, Err(failure), None).await;
            return;
        }
    };
    let mut early_answer = false;
    if early {
        // The caller wants the queued action now and will read the outcome
        // with get_action; the generated password goes with it, once.
        let reply = json!({"action": action.public_json(), "passwords": generated.to_json()});
        let body = answer_body(shared, &meta, Ok(&reply));
        if !commit_answer(shared, commit, &meta, body.as_deref()).await {
            return;
        }
        early_answer = true;
        log_line(&meta, "queued", None);
    }
    if action.status == Status::Queued
        && let Err(e) = shared.journal.start(action.id).await
    {
        tracing::error!(error = %e, "cannot journal the start; not applying it");
        return;
    }
    let slot = shared.scheduler.slot().await;
    // Boxed: the SQL's future is most of a mutation's state, and only the
    // few holding a slot need it; the others wait in a small one.
    let applied = Box::pin(apply_with_retry(shared, &cmd, &meta, mode, &generated)).await;
    drop(slot);
    let Some(outcome) = applied else {
        return;
    };
    let outcome = outcome.map_err(|e| mysql_failure(&e, &meta.method));
    let passwords = (!generated.is_empty()).then(|| generated.to_json());
    if early_answer {
        let stored = outcome
            .as_ref()
            .map(|v| stored_result(&cmd, v))
            .map_err(journal_failure);
        match shared
            .journal
            .finish(action.id, stored)
            .await
            .and_then(|_| shared.journal.answered(action.id))
        {
            Ok(a) => tracing::info!(action = a.id, status = ?a.status, "async action finished"),
            Err(e) => tracing::error!(error = %e, "cannot journal the outcome"),
        }
        return;
    }
    cmd_passwords_dropped(&mut cmd);
    record_and_answer(shared, commit, &cmd, meta, action.id, outcome, passwords).await;
}

/// Records the outcome, answers, and marks the action answered.
async fn record_and_answer<D: Database, C: Commit>(
    shared: &Shared<D>,
    commit: &C,
    cmd: &Command,
    meta: Meta,
    id: u64,
    outcome: Result<Value, Failure>,
    passwords: Option<Value>,
) {
    let stored = outcome
        .as_ref()
        .map(|v| stored_result(cmd, v))
        .map_err(journal_failure);
    let action = match shared.journal.finish(id, stored).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot journal the outcome; leaving the command for redelivery");
            return;
        }
    };
    let label = if outcome.is_ok() { "ok" } else { "failed" };
    answer(
        shared, commit, cmd, meta, &action, outcome, passwords, label,
    )
    .await;
}

/// Acknowledges a delivery without publishing anything, and logs it.
async fn finish_silently<D: Database, C: Commit>(shared: &Shared<D>, commit: &C, meta: Meta) {
    commit_answer(shared, commit, &meta, None).await;
    log_line(&meta, "duplicate", None);
}

/// Answers a request whose action already finished, from the journal.
async fn answer_recorded<D: Database, C: Commit>(
    shared: &Shared<D>,
    commit: &C,
    cmd: &Command,
    meta: Meta,
    a: Action,
) {
    let outcome = match a.status {
        Status::Success => Ok(a.result.clone().unwrap_or(Value::Null)),
        _ => Err(failure_of(
            FailureKind::from_name(a.failure_class.as_deref().unwrap_or("")),
            &meta.method,
            a.finished_message.clone().unwrap_or_default(),
        )),
    };
    answer(shared, commit, cmd, meta, &a, outcome, None, "duplicate").await;
}

/// Publishes the outcome (in the action shape where the request asks for
/// it), acknowledges, marks the action answered, and logs the command.
#[allow(clippy::too_many_arguments)]
async fn answer<D: Database, C: Commit>(
    shared: &Shared<D>,
    commit: &C,
    cmd: &Command,
    meta: Meta,
    action: &Action,
    outcome: Result<Value, Failure>,
    passwords: Option<Value>,
    label: &str,
) {
    let reply = reply_value(cmd, &meta, action, passwords);
    let wire = match (&reply, &outcome) {
        (_, Err(f)) => Err(f),
        (Some(v), Ok(_)) | (None, Ok(v)) => Ok(v),
    };
    let body = answer_body(shared, &meta, wire);
    let marked = if commit_answer(shared, commit, &meta, body.as_deref()).await {
        shared.journal.answered(action.id)
    } else {
        shared.journal.unsent(action.id)
    };
    if let Err(e) = marked {
        tracing::warn!(error = %e, "cannot journal whether the answer went out");
    }
    log_line(&meta, label, outcome.as_ref().err());
}

/// For a call to a method Trove sends as a cast, and for
/// `regenerate_password`: `{"action", "passwords"}` instead of Trove's shape.
fn reply_value(
    cmd: &Command,
    meta: &Meta,
    action: &Action,
    passwords: Option<Value>,
) -> Option<Value> {
    let wants_action = meta.call.is_some()
        && (cmd.is_trove_cast() || matches!(cmd, Command::RegeneratePassword(_)));
    wants_action.then(|| json!({"action": action.public_json(), "passwords": passwords.unwrap_or_else(|| json!({}))}))
}

/// What the journal keeps of a result: never a password.
fn stored_result(cmd: &Command, v: &Value) -> Option<Value> {
    match cmd {
        Command::EnableRoot(_) => {
            let mut v = v.clone();
            if let Some(m) = v.as_object_mut() {
                m.insert("_password".into(), Value::Null);
            }
            Some(v)
        }
        _ => Some(v.clone()),
    }
}

fn journal_failure(f: &Failure) -> (&str, String) {
    (f.class(), f.message().to_owned())
}

/// Generated passwords have been handed to the reply; drop the command's
/// copies now rather than at the end of the scope.
fn cmd_passwords_dropped(cmd: &mut Command) {
    if let Command::CreateUsers(users) = cmd {
        for u in users.iter_mut() {
            u.password = None;
        }
    }
}
