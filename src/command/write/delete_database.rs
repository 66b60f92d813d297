//! `delete_database(database)`: drops one schema (cast).
//! `DatabaseNotFound` when it does not exist.

use serde_json::Value;

use crate::command::{Args, Env, Method, ParseCx, ParseError, WriteMethod, parse};
use crate::model::{ActionType, Attempt, Database, DbName, DbResult, Resource};

use super::Effect;

/// `delete_database`.
#[derive(Debug)]
pub struct DeleteDatabase(pub DbName);

impl Method for DeleteDatabase {
    const NAME: &'static str = "delete_database";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        let mut db = args.object("database")?;
        Ok(DeleteDatabase(parse::schema_name(&mut db, cx)?))
    }
}

impl WriteMethod for DeleteDatabase {
    const ACTION: ActionType = ActionType::DatabaseDelete;
    const TROVE_CAST: bool = true;
    const EFFECT: Option<Effect> = Some(Effect::Absent);

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::Database(self.0.clone())]
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, attempt: Attempt) -> DbResult<Value> {
        env.db.delete_database(&self.0, attempt).await?;
        Ok(Value::Null)
    }
}
