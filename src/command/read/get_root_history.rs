//! `get_root_history()` → `{"enabled", "last_enabled_at",
//! "last_enabled_by", "action"}`: whether remote root is enabled now (read
//! from mysqld), and when it was last enabled and by which request user
//! (from the journal's newest successful `root_enable`, as far back as the
//! journal keeps: `null` when it holds none). The agent's side of the
//! seed's admin call "Show root-enabled history".

use serde_json::json;

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod};
use crate::journal::rfc3339;
use crate::model::{ActionType, Database, DbResult};

/// `get_root_history`.
#[derive(Debug)]
pub struct GetRootHistory;

impl Method for GetRootHistory {
    const NAME: &'static str = "get_root_history";

    fn parse(_: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(GetRootHistory)
    }
}

impl ReadMethod for GetRootHistory {
    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
        let enabled = env.db.is_root_enabled().await?;
        let last = env.journal.last_success(ActionType::RootEnable);
        Ok(Answer::Value(json!({
            "enabled": enabled,
            "last_enabled_at": last.as_ref().map(|a| rfc3339(a.finished_at.unwrap_or(a.created_at))),
            "last_enabled_by": last.as_ref().and_then(|a| a.requested_by.clone()),
            "action": last.as_ref().map(|a| a.id),
        })))
    }
}
