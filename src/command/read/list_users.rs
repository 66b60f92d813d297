//! `list_users(limit, marker, include_marker)` → `[[user...], next_marker]`.
//!
//! Non-system accounts sorted by `name@host` (remote root among them while
//! enabled), each with the databases it holds ALL on, `_password` null.

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod, parse};
use crate::model::{Database, DbResult, Page};

/// `list_users`.
#[derive(Debug)]
pub struct ListUsers(pub Page);

impl Method for ListUsers {
    const NAME: &'static str = "list_users";

    fn parse(args: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(ListUsers(parse::page(args)?))
    }
}

impl ReadMethod for ListUsers {
    const LISTING: bool = true;

    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
        let (items, next) = env.db.list_users(&self.0).await?;
        Ok(Answer::Users(items, next))
    }
}
