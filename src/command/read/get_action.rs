//! `get_action(id)` → the action (Cloud66's shape), or `null`: how a
//! mutation went, read from the journal.

use serde_json::Value;

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod};
use crate::model::{Database, DbResult};

/// `get_action`.
#[derive(Debug)]
pub struct GetAction(pub u64);

impl Method for GetAction {
    const NAME: &'static str = "get_action";

    fn parse(args: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(GetAction(args.count("id")?))
    }
}

impl ReadMethod for GetAction {
    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
        Ok(Answer::Value(
            env.journal
                .get(self.0)
                .map_or(Value::Null, |a| a.public_json()),
        ))
    }
}
