//! Methods that change nothing: they run as soon as they arrive, several
//! at once, and are answered from mysqld (or the journal) directly.

pub mod get_action;
pub mod get_diagnostics;
pub mod get_filesystem_stats;
pub mod get_hwinfo;
pub mod get_root_history;
pub mod get_root_password;
pub mod get_user;
pub mod is_root_enabled;
pub mod list_access;
pub mod list_actions;
pub mod list_database_users;
pub mod list_databases;
pub mod list_users;
pub mod ping;
pub mod ssl_show;
pub mod stop_db;

use std::future::Future;

use super::{Answer, Env, Method};
use crate::model::{Database, DbResult};

/// A method that reads.
pub trait ReadMethod: Method {
    /// Its answer grows with the server (a listing): while its answers are
    /// large, such requests are built one at a time (`agent::listings`).
    const LISTING: bool = false;

    /// Runs the read and renders its result in the wire shape.
    fn apply<D: Database>(&self, env: Env<'_, D>) -> impl Future<Output = DbResult<Answer>> + Send;
}
