//! `enable_root()` / `enable_root_with_password(root_password)` → Trove's
//! root user, carrying the password once (call).
//!
//! Creates or updates `root`@`%` with the password (generated when none is
//! given) and ALL ON *.* WITH GRANT OPTION. The agent keeps no copy of the
//! password: the journal records the result without it. With
//! `amqp.allow_root_enable = false` both are refused as not supported.

use serde_json::{Value, json};

use crate::command::{Args, Env, Generated, Method, ParseCx, ParseError, WriteMethod, parse};
use crate::model::{Account, ActionType, Attempt, Database, DbError, DbResult, Password, Resource};

/// `enable_root`, `enable_root_with_password`.
#[derive(Debug)]
pub struct EnableRoot(pub Option<Password>);

impl Method for EnableRoot {
    const NAME: &'static str = "enable_root";
    const ALIASES: &'static [&'static str] = &["enable_root_with_password"];

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        if !cx.allow_root_enable {
            return Err(ParseError::SwitchedOff(
                "enabling root is switched off on this host (amqp.allow_root_enable = false)",
            ));
        }
        let password = args
            .opt_string("root_password")?
            .map(parse::password)
            .transpose()?;
        Ok(EnableRoot(password))
    }
}

impl WriteMethod for EnableRoot {
    const ACTION: ActionType = ActionType::RootEnable;

    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }

    fn gates(&self) -> Vec<Resource> {
        vec![Resource::User(Account::remote_root())]
    }

    /// Without `root_password`: one is generated before any SQL, so it goes
    /// out with the answer (an `async` call's early one too), and a cast,
    /// which could hand it to nobody, is refused.
    fn needs_generated_password(&self) -> bool {
        self.0.is_none()
    }

    fn generate_passwords(&mut self, generated: &mut Generated) -> Result<(), DbError> {
        if self.0.is_none() {
            self.0 = Some(generated.generate(&Account::remote_root())?);
        }
        Ok(())
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, _: Attempt) -> DbResult<Value> {
        let password = self
            .0
            .as_ref()
            .ok_or_else(|| DbError::Protocol("no generated password".into()))?;
        let root = env.db.enable_root(password).await?;
        Ok(json!({
            "_name": root.name.as_str(),
            "_host": root.host.as_str(),
            "_password": password.expose_for_reply(),
            "_databases": [],
            "_is_root": true,
        }))
    }

    fn journaled(mut result: Value) -> Value {
        if let Some(m) = result.as_object_mut() {
            m.insert("_password".into(), Value::Null);
        }
        result
    }
}
