//! `list_actions(limit, marker)` → `[[action...], next_marker]`, newest
//! first; the marker is an action id.

use serde_json::Value;

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod, render};
use crate::model::{Database, DbResult};

/// Page size when the caller gives none.
const DEFAULT_LIMIT: usize = 30;

/// `list_actions`.
#[derive(Debug)]
pub struct ListActions {
    pub limit: usize,
    pub marker: Option<u64>,
}

impl Method for ListActions {
    const NAME: &'static str = "list_actions";

    fn parse(args: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(ListActions {
            limit: args.opt_count("limit")?.unwrap_or(DEFAULT_LIMIT),
            marker: args.opt_count("marker")?.map(|m| m as u64),
        })
    }
}

impl ReadMethod for ListActions {
    const LISTING: bool = true;

    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
        let (page, next) = env.journal.list(self.limit, self.marker);
        Ok(Answer::Value(render::listing(
            page.iter().map(|a| a.public_json()).collect(),
            next.map(Value::from),
        )))
    }
}
