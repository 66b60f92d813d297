//! `list_access(username, hostname)` → `[database...]`: the databases the
//! user holds ALL on; `UserNotFound` when the account does not exist.

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod, parse};
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
    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
        let dbs = env.db.list_access(&self.0).await?;
        Ok(Answer::DbRefs(dbs))
    }
}
