//! `disable_root()` → `null` (call): drops every non-local `root` account,
//! so root can only log in on the host itself. The local root is never
//! touched.

use serde_json::Value;

use crate::command::{Args, Env, Method, ParseCx, ParseError, WriteMethod};
use crate::model::{Account, ActionType, Attempt, Database, DbResult, Resource};

/// `disable_root`.
#[derive(Debug)]
pub struct DisableRoot;

impl Method for DisableRoot {
    const NAME: &'static str = "disable_root";

    fn parse(_: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(DisableRoot)
    }
}

impl WriteMethod for DisableRoot {
    const ACTION: ActionType = ActionType::RootDisable;

    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }

    fn gates(&self) -> Vec<Resource> {
        vec![Resource::User(Account::remote_root())]
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, _: Attempt) -> DbResult<Value> {
        env.db.disable_root().await?;
        Ok(Value::Null)
    }
}
