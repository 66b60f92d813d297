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
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::handler::Shared;
use crate::amqp::{Commit, Outgoing};
use crate::command::Database;
use crate::command::names::{Account, DbName, HostPattern, UserName};
use crate::journal::Action;
use crate::rpc::Context;

const UNKNOWN: &str = "the agent stopped while this command was in hand and its message never came back; \
                       its outcome is unknown: check the resource";

/// How long redeliveries get after the agent starts consuming.
pub const GRACE: Duration = Duration::from_secs(60);

/// Waits [`GRACE`], then settles the actions in `left` still unanswered.
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
        _ = tokio::time::sleep(GRACE) => {}
    }
    for a in shared
        .journal
        .unanswered()
        .into_iter()
        .filter(|a| left.contains(&a.id))
    {
        // In line behind a redelivery of the same message that the worker
        // may be finishing right now; then read the action again.
        let mut turn = shared
            .scheduler
            .enter(a.unique_id.iter().map(|u| format!("id:{u}")).collect());
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
                Some(Err(msg)) => Err(("GuestError", msg)),
                None => Err(("GuestError", UNKNOWN.to_owned())),
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
            && let Some(serde_json::Value::Object(saved)) = &a.context
        {
            let ctx = Context::from_map(saved.clone());
            let outcome = match a.finished_success {
                Some(true) => Ok(()),
                _ => Err(a.finished_message.as_deref().unwrap_or("failed")),
            };
            if let Some(body) = shared.conductor.notification(&shared.codec, &ctx, outcome) {
                let (exchange, topic) = shared.conductor.route();
                let note = Outgoing {
                    exchange,
                    routing_key: topic,
                    body: &body,
                };
                if let Err(e) = publisher.commit(&[note], None).await {
                    tracing::warn!(action = a.id, error = %e, "recovered outcome not sent; will retry at next start");
                    continue;
                }
            }
        }
        if let Err(e) = shared.journal.answered(a.id) {
            tracing::error!(action = a.id, error = %e, "cannot journal a recovered answer");
        }
        tracing::warn!(action = a.id, method = %a.method, status = ?a.status, "settled an action whose message never came back");
    }
}

/// Whether an unfinished action took effect, judged from mysqld: `None`
/// when its kind cannot be judged from the journal (or mysqld is away).
async fn reconcile<D: Database>(db: &D, a: &Action) -> Option<Result<(), String>> {
    let want_present = match a.action_type.as_str() {
        "database_user_create" | "database_create" => true,
        "database_user_delete" | "database_delete" => false,
        _ => return None,
    };
    let users = a.resource_type == "database_user";
    let mut wrong = Vec::new();
    for r in &a.resources {
        let present = if users {
            let (name, host) = r.rsplit_once('@')?;
            let account = Account {
                name: UserName::parse(name).ok()?,
                host: HostPattern::parse(host).ok()?,
            };
            db.account_exists(&account).await.ok()?
        } else {
            db.schema_exists(&DbName::parse(r).ok()?).await.ok()?
        };
        if present != want_present {
            wrong.push(r.as_str());
        }
    }
    Some(if wrong.is_empty() {
        Ok(())
    } else {
        let state = if want_present {
            "missing"
        } else {
            "still present"
        };
        Err(format!(
            "the agent stopped while applying this command; after restart {state}: {}",
            wrong.join(", ")
        ))
    })
}
