//! `ssl_action(mode, container, enable, disable)` (Trove 1.3, call): the
//! instance's TLS mode, which every account follows, and those made later
//! too (`create_user`, `prepare`).
//!
//! - `enable`: mysqld must already serve TLS (`have_ssl` is `YES`): its
//!   certificate comes with the image, and the agent, running without the
//!   rights to mysqld's files, installs none; the request's `container`
//!   (certificate and private key) is not used, and its text is wiped.
//!   Every account but remote root gets `REQUIRE` as `mode` says (`basic`:
//!   none, `enforced`: SSL, `mtls`: X509). Answers `{"status": "on",
//!   "mode", "restart_required": false, "accounts": n}`.
//! - `disable`: the mode is cleared and every account `REQUIRE NONE` (mysqld
//!   keeps serving TLS to those who ask). Answers `{"status": "off",
//!   "mode": null, "restart_required": false, "accounts": n}`.
//! - neither: `{}`; both: refused.
//!
//! The mode before is kept for `ssl_rollback`. It runs alone: after every
//! mutation that arrived before it, before every later one (so an account
//! made later follows the new mode). A retry (mysqld away) keeps the mode
//! before the first attempt as the one to roll back to.

use serde_json::{Value, json};

use crate::command::{Args, Env, Method, ParseCx, ParseError, WriteMethod};
use crate::model::{ActionType, Attempt, Database, DbError, DbResult, Require, Resource, TlsMode};

/// `ssl_action`.
#[derive(Debug)]
pub struct SslAction {
    /// `Some(mode)`: enable; `None`: disable.
    pub change: Option<Option<TlsMode>>,
}

impl Method for SslAction {
    const NAME: &'static str = "ssl_action";

    fn parse(args: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        let mode = args
            .opt_choice(
                "mode",
                TlsMode::parse,
                "\"basic\", \"enforced\" or \"mtls\"",
            )?
            .unwrap_or(TlsMode::Basic);
        // Certificate and private key: never kept, never logged.
        if let Some(mut container) = args.optional("container") {
            wipe(&mut container);
        }
        let enable = args.opt_bool("enable")?.unwrap_or(false);
        let disable = args.opt_bool("disable")?.unwrap_or(false);
        let change = match (enable, disable) {
            (true, true) => {
                return Err(ParseError::Unsupported(
                    "ssl_action: enable and disable at once".into(),
                ));
            }
            (true, false) => Some(Some(mode)),
            (false, true) => Some(None),
            (false, false) => None,
        };
        Ok(SslAction { change })
    }
}

/// Overwrites every string of a JSON value in place.
fn wipe(v: &mut Value) {
    match v {
        Value::String(s) => zeroize::Zeroize::zeroize(s),
        Value::Array(a) => a.iter_mut().for_each(wipe),
        Value::Object(o) => o.values_mut().for_each(wipe),
        _ => {}
    }
}

impl WriteMethod for SslAction {
    const ACTION: ActionType = ActionType::InstanceTls;
    const INSTANCE_WIDE: bool = true;

    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, _: Attempt) -> DbResult<Value> {
        let Some(mode) = self.change else {
            return Ok(json!({}));
        };
        if mode.is_some() && !env.db.tls_available().await? {
            return Err(DbError::NotSupported(
                "mysqld serves no TLS (have_ssl is not YES): its certificate comes with \
                 the image; guestagent installs none"
                    .into(),
            ));
        }
        if env.instance.tls_mode() != mode {
            env.instance
                .set_tls_mode(mode)
                .map_err(|e| DbError::Host(format!("cannot keep the TLS mode: {e}")))?;
        }
        follow_mode(env, mode).await
    }
}

/// Every account's `REQUIRE` as the instance's (new) mode says, and the
/// answer saying so.
pub async fn follow_mode<D: Database>(env: Env<'_, D>, mode: Option<TlsMode>) -> DbResult<Value> {
    let accounts = env
        .db
        .require_all(mode.map_or(Require::None, TlsMode::require))
        .await?;
    Ok(json!({
        "status": if mode.is_some() { "on" } else { "off" },
        "mode": mode.map(TlsMode::name),
        "restart_required": false,
        "accounts": accounts,
    }))
}
