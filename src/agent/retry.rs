//! Running a command while mysqld may be away: retried with back-off within
//! the caller's patience, then failed.

// tokio's clock: paused in tests, so retry windows can be run through.
use tokio::time::Instant;

use serde_json::Value;

use super::backoff::Backoff;
use super::delivery::Delivery;
use super::shared::Shared;
use crate::command::{Read, Write};
use crate::model::{Attempt, Classify, Database, DbError, Disposition};

/// The command to run.
#[derive(Debug, Clone, Copy)]
pub enum Work<'a> {
    /// A read.
    Read(&'a Read),
    /// A mutation.
    Write(&'a Write),
}

/// Runs `work`, retrying while mysqld is away until the delivery's
/// deadline. `None` when shutdown came first: the command is then neither
/// answered nor acknowledged, and the broker redelivers it.
pub async fn apply_with_retry<D: Database>(
    shared: &Shared<D>,
    work: Work<'_>,
    d: &Delivery,
    attempt: Attempt,
) -> Option<Result<Value, DbError>> {
    let deadline = d.deadline(&shared.patience);
    let mut backoff = Backoff::new();
    let mut waited = false;
    let mut attempt = attempt;
    loop {
        let result = match work {
            Work::Read(r) => r.apply(shared.env()).await,
            Work::Write(w) => w.apply(shared.env(), attempt).await,
        };
        match result {
            Err(e)
                if e.disposition() == Disposition::Retry
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
                attempt = Attempt::Recovery;
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
