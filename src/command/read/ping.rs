//! `rpc_ping()` → `true`: the agent is consuming (oslo's liveness probe,
//! which Trove's taskmanager calls while waiting for a new guest).

use serde_json::Value;

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod};
use crate::model::{Database, DbResult};

/// `rpc_ping`.
#[derive(Debug)]
pub struct Ping;

impl Method for Ping {
    const NAME: &'static str = "rpc_ping";

    fn parse(_: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(Ping)
    }
}

impl ReadMethod for Ping {
    async fn apply<D: Database>(&self, _: Env<'_, D>) -> DbResult<Answer> {
        Ok(Answer::Value(Value::Bool(true)))
    }
}
