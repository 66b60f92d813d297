//! `grant_access(username, hostname, databases)` → `null` (call): ALL on
//! each database. `_` and `%` in the names are escaped, so a grant never
//! covers another schema; a name too long to escape is refused.

use serde_json::Value;

use crate::command::{Args, Env, Method, ParseCx, ParseError, WriteMethod, parse};
use crate::model::{Account, ActionType, Attempt, Database, DbName, DbResult, Resource};

/// `grant_access`.
#[derive(Debug)]
pub struct GrantAccess {
    pub account: Account,
    pub databases: Vec<DbName>,
}

impl Method for GrantAccess {
    const NAME: &'static str = "grant_access";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        let account = parse::account_args(args, cx)?;
        let list = args.list("databases", cx.limits.max_items)?;
        Ok(GrantAccess {
            account,
            databases: parse::grant_targets(list, "databases", cx)?,
        })
    }
}

impl WriteMethod for GrantAccess {
    const ACTION: ActionType = ActionType::DatabaseUserGrant;

    /// Not the databases: creating or dropping a schema leaves its grants
    /// alone, and granting never checks that the schema exists, so the two
    /// give the same state in either order.
    fn resources(&self) -> Vec<Resource> {
        vec![Resource::User(self.account.clone())]
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, _: Attempt) -> DbResult<Value> {
        env.db.grant_access(&self.account, &self.databases).await?;
        Ok(Value::Null)
    }
}
