//! `is_root_enabled()` → whether a `root` account reachable from a
//! non-local host exists.

use serde_json::Value;

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod};
use crate::model::{Database, DbResult};

/// `is_root_enabled`.
#[derive(Debug)]
pub struct IsRootEnabled;

impl Method for IsRootEnabled {
    const NAME: &'static str = "is_root_enabled";

    fn parse(_: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(IsRootEnabled)
    }
}

impl ReadMethod for IsRootEnabled {
    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
        env.db
            .is_root_enabled()
            .await
            .map(|on| Answer::Value(Value::Bool(on)))
    }
}
