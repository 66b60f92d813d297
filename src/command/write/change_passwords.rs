//! `change_passwords(users)`: `[{"name", "host", "password"}]` (cast).
//! Every account must exist before any password changes; a failure half
//! way says exactly which were changed.

use serde_json::Value;

use crate::command::{
    Args, Env, Method, ParseCx, ParseError, WriteMethod, args::into_object, parse,
};
use crate::model::{Account, ActionType, Attempt, Database, DbResult, Password, Resource};

/// `change_passwords`.
#[derive(Debug)]
pub struct ChangePasswords(pub Vec<(Account, Password)>);

impl Method for ChangePasswords {
    const NAME: &'static str = "change_passwords";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        let list = args.list("users", cx.limits.max_items)?;
        let mut out: Vec<(Account, Password)> = Vec::with_capacity(list.len());
        for item in list {
            let mut u = into_object("users", item)?;
            let name = u.string("name")?;
            let host = u.opt_string("host")?;
            let account = parse::account(&name, host.as_deref(), cx)?;
            let password = parse::password(u.string("password")?)?;
            if out.iter().any(|(a, _)| *a == account) {
                return Err(ParseError::Duplicate(account.to_string()));
            }
            out.push((account, password));
        }
        Ok(ChangePasswords(out))
    }
}

impl WriteMethod for ChangePasswords {
    const ACTION: ActionType = ActionType::DatabaseUserPasswordChange;
    const TROVE_CAST: bool = true;

    fn resources(&self) -> Vec<Resource> {
        self.0
            .iter()
            .map(|(a, _)| Resource::User(a.clone()))
            .collect()
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, _: Attempt) -> DbResult<Value> {
        env.db.change_passwords(&self.0).await?;
        Ok(Value::Null)
    }
}
