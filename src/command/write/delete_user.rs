//! `delete_user(user)`: drops one account (cast). `UserNotFound` when it
//! does not exist.

use serde_json::Value;

use crate::command::{Args, Env, Method, ParseCx, ParseError, WriteMethod, parse};
use crate::model::{Account, ActionType, Attempt, Database, DbResult, Resource};

use super::Effect;

/// `delete_user`.
#[derive(Debug)]
pub struct DeleteUser(pub Account);

impl Method for DeleteUser {
    const NAME: &'static str = "delete_user";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        let mut user = args.object("user")?;
        Ok(DeleteUser(parse::account_dict(&mut user, cx)?))
    }
}

impl WriteMethod for DeleteUser {
    const ACTION: ActionType = ActionType::DatabaseUserDelete;
    const TROVE_CAST: bool = true;
    const EFFECT: Option<Effect> = Some(Effect::Absent);

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::User(self.0.clone())]
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, attempt: Attempt) -> DbResult<Value> {
        env.db.delete_user(&self.0, attempt).await?;
        Ok(Value::Null)
    }
}
