//! Methods that change mysqld. Each is journaled as an action before it
//! runs and answered once (`agent::mutation`); what a file declares here is
//! what that machinery needs to know of it.

pub mod change_passwords;
pub mod create_database;
pub mod create_user;
pub mod delete_database;
pub mod delete_user;
pub mod disable_root;
pub mod enable_root;
pub mod grant_access;
pub mod prepare;
pub mod regenerate_password;
pub mod revoke_access;
pub mod ssl_action;
pub mod ssl_rollback;
pub mod update_attributes;

use std::future::Future;

use serde_json::Value;

use super::{Env, Generated, Method};
use crate::instance::Instance;
use crate::model::{ActionType, Attempt, Database, DbError, DbResult, Resource};

/// What a mutation leaves behind for each of its resources, for the sweep
/// that settles a mutation whose message never came back after a crash
/// (`agent::recovery`): it checks mysqld for exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Each resource exists afterwards (it was created).
    Present,
    /// None exists afterwards (it was dropped).
    Absent,
}

/// A method that writes.
pub trait WriteMethod: Method {
    /// The action it is journaled as.
    const ACTION: ActionType;
    /// Trove sends it as a cast. Sent as a call instead, it answers
    /// `{"action", "passwords"}` when the action has finished (or at once,
    /// queued, with `async: true`).
    const TROVE_CAST: bool = false;
    /// Answers a call with `{"action", "passwords"}` rather than a Trove
    /// result shape.
    const ACTION_REPLY: bool = Self::TROVE_CAST;
    /// What it leaves behind, when mysqld alone can tell whether it ran.
    const EFFECT: Option<Effect> = None;
    /// It changes every account (the TLS mode): it waits for every
    /// mutation that arrived before it, and every later one waits for it.
    const INSTANCE_WIDE: bool = false;

    /// Everything it touches, for the journal; never a secret.
    fn resources(&self) -> Vec<Resource>;

    /// What it changes of its accounts, by name (`password`, `_locked`,
    /// ...), for the journal: never a value.
    fn changed(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// What it must not run at the same time as another mutation touching
    /// (`agent::scheduler`): by default its resources.
    fn gates(&self) -> Vec<Resource> {
        self.resources()
    }

    /// True when it needs a password the caller did not send: only a call
    /// can have one, since only a reply can hand it back.
    fn needs_generated_password(&self) -> bool {
        false
    }

    /// Fills in every password the caller left to the agent, before any
    /// SQL runs.
    fn generate_passwords(&mut self, _: &mut Generated) -> Result<(), DbError> {
        Ok(())
    }

    /// Applies the change; a [`Attempt::Recovery`] takes what is already
    /// there as its own doing.
    fn apply<D: Database>(
        &self,
        env: Env<'_, D>,
        attempt: Attempt,
    ) -> impl Future<Output = DbResult<Value>> + Send;

    /// What the journal keeps of a result, to answer a resent call: never
    /// a secret.
    fn journaled(result: Value) -> Value {
        result
    }

    /// Told the final outcome once it is known (after every retry, from
    /// the journal after a restart, or a refusal before it could run): for
    /// what the instance's life makes of it (`prepare`).
    fn finished(_instance: &Instance, _ok: bool) {}
}
