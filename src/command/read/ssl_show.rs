//! `ssl_show()` (Trove 1.3, call) → `{"status": "on"|"off", "mode"}`:
//! whether mysqld serves TLS, and the instance's TLS mode (Trove's API
//! shows its own record of the mode instead). No certificate: the agent
//! does not read mysqld's key material.

use serde_json::json;

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod};
use crate::model::{Database, DbResult, TlsMode};

/// `ssl_show`.
#[derive(Debug)]
pub struct SslShow;

impl Method for SslShow {
    const NAME: &'static str = "ssl_show";

    fn parse(_: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(SslShow)
    }
}

impl ReadMethod for SslShow {
    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
        let on = env.db.tls_available().await?;
        Ok(Answer::Value(json!({
            "status": if on { "on" } else { "off" },
            "mode": env.instance.tls_mode().map(TlsMode::name),
        })))
    }
}
