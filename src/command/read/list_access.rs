//! `list_access(username, hostname)` → `[database...]`: the databases the
//! user holds ALL on; `UserNotFound` when the account does not exist.

use serde_json::Value;

use crate::command::{Args, Env, Method, ParseCx, ParseError, ReadMethod, parse, render};
use crate::model::{Account, Database, DbResult};

/// `list_access`.
#[derive(Debug)]
pub struct ListAccess(pub Account);

impl Method for ListAccess {
    const NAME: &'static str = "list_access";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(ListAccess(parse::account_args(args, cx)?))
    }
}

impl ReadMethod for ListAccess {
    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Value> {
        let dbs = env.db.list_access(&self.0).await?;
        Ok(Value::Array(dbs.iter().map(render::db_ref).collect()))
    }
}
