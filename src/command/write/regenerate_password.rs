//! `regenerate_password(username, hostname)` → `{"action", "passwords":
//! {"name@host": "<new password>"}}` (call only): a new password from the
//! OS CSPRNG, handed back once and kept nowhere (Cloud66's "password
//! change").

use serde_json::Value;

use crate::command::{Args, Env, Generated, Method, ParseCx, ParseError, WriteMethod, parse};
use crate::model::{Account, ActionType, Attempt, Database, DbError, DbResult, Password, Resource};

/// `regenerate_password`.
#[derive(Debug)]
pub struct RegeneratePassword {
    pub account: Account,
    pub password: Option<Password>,
}

impl Method for RegeneratePassword {
    const NAME: &'static str = "regenerate_password";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(RegeneratePassword {
            account: parse::account_args(args, cx)?,
            password: None,
        })
    }
}

impl WriteMethod for RegeneratePassword {
    const ACTION: ActionType = ActionType::DatabaseUserPasswordChange;
    const ACTION_REPLY: bool = true;

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::User(self.account.clone())]
    }

    fn needs_generated_password(&self) -> bool {
        true
    }

    fn generate_passwords(&mut self, generated: &mut Generated) -> Result<(), DbError> {
        self.password = Some(generated.generate(&self.account)?);
        Ok(())
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, _: Attempt) -> DbResult<Value> {
        let password = self
            .password
            .clone()
            .ok_or_else(|| DbError::Protocol("no generated password".into()))?;
        env.db
            .change_passwords(&[(self.account.clone(), password)])
            .await?;
        Ok(Value::Null)
    }
}
