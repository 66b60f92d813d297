//! Running a command while mysqld may be away: retried with back-off within
//! the caller's patience, then failed.

// tokio's clock: paused in tests, so retry windows can be run through.
use tokio::time::Instant;

use serde_json::Value;

use super::backoff::Backoff;
use super::delivery::Delivery;
use super::shared::Shared;
use crate::command::{Answer, Env, Read, Write};
use crate::model::{Attempt, Classify, Database, DbError, DbResult, Disposition};

/// A command to run: a read answers an [`Answer`], a mutation the `Value`
/// its journal record keeps.
pub trait Work: Copy {
    /// What it answers.
    type Out;
    /// Runs it once.
    fn run<D: Database>(
        self,
        env: Env<'_, D>,
        attempt: Attempt,
    ) -> impl Future<Output = DbResult<Self::Out>> + Send;
}

impl Work for &Read {
    type Out = Answer;
    async fn run<D: Database>(self, env: Env<'_, D>, _: Attempt) -> DbResult<Answer> {
        self.apply(env).await
    }
}

impl Work for &Write {
    type Out = Value;
    async fn run<D: Database>(self, env: Env<'_, D>, attempt: Attempt) -> DbResult<Value> {
        self.apply(env, attempt).await
    }
}

/// Runs `work`, retrying while mysqld is away until the delivery's
/// deadline. `None` when shutdown came first: the command is then neither
/// answered nor acknowledged, and the broker redelivers it.
pub async fn apply_with_retry<D: Database, W: Work>(
    shared: &Shared<D>,
    work: W,
    d: &Delivery,
    attempt: Attempt,
) -> Option<Result<W::Out, DbError>> {
    let deadline = d.deadline(&shared.patience);
    let mut backoff = Backoff::new();
    let mut waited = false;
    let mut attempt = attempt;
    loop {
        let result = work.run(shared.env(), attempt).await;
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
