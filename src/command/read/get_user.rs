//! `get_user(username, hostname)` → the user, or `null` when absent.

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod, parse};
use crate::model::{Account, Database, DbResult};

/// `get_user`.
#[derive(Debug)]
pub struct GetUser(pub Account);

impl Method for GetUser {
    const NAME: &'static str = "get_user";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(GetUser(parse::account_args(args, cx)?))
    }
}

impl ReadMethod for GetUser {
    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
        Ok(Answer::User(env.db.get_user(&self.0).await?))
    }
}
