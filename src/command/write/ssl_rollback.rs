//! `ssl_rollback()` (Trove 1.3, call): back to the TLS mode before the last
//! `ssl_action`, every account's `REQUIRE` with it. Answers `{"status",
//! "mode", "restart_required": false, "accounts"}`; with nothing to go back
//! to, fails (as Trove's agent does without its saved state).

use serde_json::Value;

use super::ssl_action::follow_mode;
use crate::command::{Args, Env, Method, ParseCx, ParseError, WriteMethod};
use crate::model::{ActionType, Attempt, Database, DbError, DbResult, Resource};

/// `ssl_rollback`.
#[derive(Debug)]
pub struct SslRollback;

impl Method for SslRollback {
    const NAME: &'static str = "ssl_rollback";

    fn parse(_: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(SslRollback)
    }
}

impl WriteMethod for SslRollback {
    const ACTION: ActionType = ActionType::InstanceTls;
    const INSTANCE_WIDE: bool = true;

    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, _: Attempt) -> DbResult<Value> {
        let previous = env
            .instance
            .previous_tls()
            .ok_or_else(|| DbError::Host("no earlier TLS mode to roll back to".into()))?;
        // The accounts first: a retry (mysqld away) still finds the mode
        // to go back to.
        let answer = follow_mode(env, previous).await?;
        env.instance
            .rollback_tls(previous)
            .map_err(|e| DbError::Host(format!("cannot keep the TLS mode: {e}")))?;
        Ok(answer)
    }
}
