//! `get_diagnostics()` → the agent's version, threads and memory, in the
//! shape of Trove's agent.

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod};
use crate::model::{Database, DbResult};

/// `get_diagnostics`.
#[derive(Debug)]
pub struct GetDiagnostics;

impl Method for GetDiagnostics {
    const NAME: &'static str = "get_diagnostics";

    fn parse(_: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(GetDiagnostics)
    }
}

impl ReadMethod for GetDiagnostics {
    async fn apply<D: Database>(&self, _: Env<'_, D>) -> DbResult<Answer> {
        Ok(Answer::Value(crate::host::diagnostics()))
    }
}
