//! `revoke_access(username, hostname, database)` → `null` (call): every
//! privilege the account holds on the database, including grants other
//! tools wrote without escaping; `database` may also be a wildcard pattern
//! (`%`, `app\_%`) exactly as `get_user` shows such a grant. Revoking what
//! is not granted is not an error: the end state is the one asked for.

use serde_json::Value;

use crate::command::{Args, Env, Method, ParseCx, ParseError, WriteMethod, parse};
use crate::model::{Account, ActionType, Attempt, Database, DbName, DbResult, Resource};

/// `revoke_access`.
#[derive(Debug)]
pub struct RevokeAccess {
    pub account: Account,
    pub database: DbName,
}

impl Method for RevokeAccess {
    const NAME: &'static str = "revoke_access";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        let account = parse::account_args(args, cx)?;
        let database = match args.required("database")? {
            // A grant on a wildcard pattern, as get_user and list_access show it.
            serde_json::Value::String(s) if s.contains('%') => DbName::pattern(&s)?,
            v => parse::db_ref(v, cx)?,
        };
        Ok(RevokeAccess { account, database })
    }
}

impl WriteMethod for RevokeAccess {
    const ACTION: ActionType = ActionType::DatabaseUserRevoke;

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::User(self.account.clone())]
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, _: Attempt) -> DbResult<Value> {
        env.db.revoke_access(&self.account, &self.database).await?;
        Ok(Value::Null)
    }
}
