//! Actions a crash left unanswered whose messages never came back.
//!
//! Normally the broker redelivers an unacknowledged message and the worker
//! finishes its action. A message can still be lost for good: its queue
//! deleted, its TTL expired, or an `async` call acknowledged before the
//! work. After a grace period this sweep gives each such action its one
//! outcome: a finished one is reported as it finished; an unfinished one is
//! checked against mysqld where the journal says enough (do the accounts or
//! databases it creates exist, are the ones it drops gone?) and otherwise
//! failed, saying the outcome is unknown, so nobody waits forever.

use std::collections::HashSet;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::scheduler::Gate;
use super::shared::Shared;
use crate::amqp::Commit;
use crate::command::{Effect, effect_of};
use crate::journal::Action;
use crate::model::{Database, Resource, WireClass};
use crate::rpc::Context;

const UNKNOWN: &str = "the agent stopped while this command was in hand and its message never came back; \
                       its outcome is unknown: check the resource";

/// Waits the patience's grace, then settles the actions in `left` still
/// unanswered.
pub async fn sweep<D: Database, C: Commit>(
    shared: Arc<Shared<D>>,
    publisher: C,
    left: HashSet<u64>,
    done: CancellationToken,
) {
    if left.is_empty() {
        return;
    }
    tokio::select! {
        _ = done.cancelled() => return,
        _ = tokio::time::sleep(shared.patience.grace) => {}
    }
    let responder = shared.responder(&publisher);
    for a in shared
        .journal
        .unanswered()
        .into_iter()
        .filter(|a| left.contains(&a.id))
    {
        // In line behind a redelivery of the same message that the worker
        // may be finishing right now; then read the action again.
        let mut turn = shared.scheduler.enter(
            a.unique_id
                .iter()
                .map(|u| Gate::Message(u.clone()))
                .collect(),
        );
        turn.ready().await;
        let Some(a) = shared.journal.get(a.id).filter(|a| !a.answered) else {
            continue;
        };
        let a = if a.status.is_finished() {
            if !a.unsent {
                // It may have been answered (and its message acknowledged)
                // an instant before a crash: a second outcome would be
                // worse than waiting for a redelivery that may not come.
                continue;
            }
            a
        } else {
            let outcome = match reconcile(&shared.db, &a).await {
                Some(Ok(())) => Ok(None),
                Some(Err(msg)) => Err((WireClass::GuestError, msg)),
                None => Err((WireClass::GuestError, UNKNOWN.to_owned())),
            };
            match shared.journal.finish(a.id, outcome).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(action = a.id, error = %e, "cannot journal a recovered outcome");
                    continue;
                }
            }
        };
        // A call's caller is long gone; a cast's outcome goes to the conductor.
        if !a.call
            && let Some(serde_json::Value::Object(saved)) = a.context.as_deref()
        {
            let ctx = Context::from_map(saved.clone());
            let (class, message) = a.failure_parts();
            let failure = crate::rpc::Failure::new(class, message);
            let outcome = match a.status {
                crate::journal::Status::Success => Ok(()),
                _ => Err(&failure),
            };
            if let Err(e) = responder.notify(&ctx, outcome).await {
                tracing::warn!(action = a.id, error = %e, "recovered outcome not sent; will retry at next start");
                continue;
            }
        }
        crate::command::finished(
            &a.method,
            &shared.instance,
            a.status == crate::journal::Status::Success,
        );
        if let Err(e) = shared.journal.answered(a.id) {
            tracing::error!(action = a.id, error = %e, "cannot journal a recovered answer");
        }
        tracing::warn!(action = a.id, method = %a.method, status = ?a.status, "settled an action whose message never came back");
    }
}

/// Whether an unfinished action took effect, judged from mysqld: `None`
/// when its kind cannot be judged from the journal (or mysqld is away).
async fn reconcile<D: Database>(db: &D, a: &Action) -> Option<Result<(), String>> {
    let effect = effect_of(a.action_type)?;
    let mut wrong = Vec::new();
    for r in &a.resources {
        let present = match r {
            Resource::User(account) => db.account_exists(account).await.ok()?,
            Resource::Database(name) => db.schema_exists(name).await.ok()?,
        };
        if present != (effect == Effect::Present) {
            wrong.push(r.to_string());
        }
    }
    Some(if wrong.is_empty() {
        Ok(())
    } else {
        let state = match effect {
            Effect::Present => "missing",
            Effect::Absent => "still present",
        };
        Err(format!(
            "the agent stopped while applying this command; after restart {state}: {}",
            wrong.join(", ")
        ))
    })
}
