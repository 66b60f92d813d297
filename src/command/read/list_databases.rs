//! `list_databases(limit, marker, include_marker)` →
//! `[[database...], next_marker]`: non-system schemas sorted by name, with
//! their character set and collation.

use serde_json::Value;

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod, parse, render};
use crate::model::{Database, DbResult, Page};

/// `list_databases`.
#[derive(Debug)]
pub struct ListDatabases(pub Page);

impl Method for ListDatabases {
    const NAME: &'static str = "list_databases";

    fn parse(args: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(ListDatabases(parse::page(args)?))
    }
}

impl ReadMethod for ListDatabases {
    const LISTING: bool = true;

    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
        let (items, next) = env.db.list_databases(&self.0).await?;
        Ok(Answer::Value(render::listing(
            items.iter().map(render::db).collect(),
            next.map(Value::String),
        )))
    }
}
