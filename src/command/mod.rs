//! Commands: what the control plane asked for, as typed values.
//!
//! [`Command::parse`] turns a method name and its keyword arguments into one
//! [`Command`] variant whose fields are validated names (see [`names`]). It
//! checks every item of a multi-item command before returning, so a command
//! either parses whole or is refused with nothing done. Nothing below this
//! module sees JSON; [`Command::apply`] runs it against mysqld and renders the
//! result in Trove's wire shapes.

mod apply;
pub mod args;
pub mod cloud66;
pub mod databases;
pub mod db;
#[cfg(any(test, feature = "fakes"))]
pub mod fake;
pub mod names;
pub mod root;
pub mod users;

pub use apply::{Env, Generated};
pub use db::Database;

use serde_json::{Map, Value};

use crate::mysql::{MysqlError, Page, Protected};
use args::Args;
use names::{Account, DbName, NameError};

/// Size limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most users or databases in one command.
    pub max_items: usize,
}

/// One request from the control plane, validated.
#[derive(Debug)]
pub enum Command {
    /// `rpc_ping`: answers `true`.
    Ping,
    /// `create_user`: accounts with passwords and ALL on their databases.
    CreateUsers(Vec<crate::mysql::users::NewUser>),
    /// `list_users`.
    ListUsers(Page),
    /// `get_user`.
    GetUser(Account),
    /// `delete_user`.
    DeleteUser(Account),
    /// `create_database`.
    CreateDatabases(Vec<crate::mysql::databases::NewDatabase>),
    /// `list_databases`.
    ListDatabases(Page),
    /// `delete_database`.
    DeleteDatabase(DbName),
    /// `update_attributes`: rename, re-host and/or re-password one account.
    UpdateAttributes(Account, crate::mysql::alter::AccountChange),
    /// `change_passwords`.
    ChangePasswords(Vec<(Account, names::Password)>),
    /// `list_access`.
    ListAccess(Account),
    /// `grant_access`.
    GrantAccess(Account, Vec<DbName>),
    /// `revoke_access`.
    RevokeAccess(Account, DbName),
    /// `enable_root` / `enable_root_with_password`; `None` generates one.
    EnableRoot(Option<names::Password>),
    /// `disable_root`.
    DisableRoot,
    /// `is_root_enabled`.
    IsRootEnabled,
    /// `get_root_password`: not supported for MySQL/MariaDB, as in Trove.
    GetRootPassword,
    /// `get_hwinfo`.
    GetHwInfo,
    /// `get_diagnostics`.
    GetDiagnostics,
    /// `get_action(id)`: one action from the journal.
    GetAction(u64),
    /// `list_actions(limit, marker)`: newest first.
    ListActions(Option<usize>, Option<u64>),
    /// `regenerate_password(username, hostname)`: a new generated password.
    RegeneratePassword(Account),
    /// `list_database_users(page, per_page)`: Cloud66's listing.
    ListDatabaseUsers(usize, usize),
}

/// Why a request could not become a command. Always permanent: the same
/// request will never parse, so it is refused and nothing is changed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The agent has no such method.
    #[error("unknown method {0:?}")]
    UnknownMethod(String),
    /// A required argument is absent or null.
    #[error("missing argument {0:?}")]
    Missing(&'static str),
    /// An argument has the wrong JSON type.
    #[error("argument {arg:?} must be {expected}")]
    Type {
        /// The argument.
        arg: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A list argument is empty.
    #[error("argument {0:?} must not be empty")]
    Empty(&'static str),
    /// A list argument is longer than the configured limit.
    #[error("argument {arg:?} holds more than {limit} items")]
    TooMany {
        /// The argument.
        arg: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A name, host or password broke the naming rules.
    #[error("{0}")]
    Name(#[from] NameError),
    /// The command names a system account.
    #[error("{0} is a system account and cannot be used")]
    SystemUser(String),
    /// The command names a system database.
    #[error("{0} is a system database and cannot be used")]
    SystemDatabase(String),
    /// The same account or database appears twice in one command.
    #[error("{0} appears more than once")]
    Duplicate(String),
    /// A database whose name, escaped for `GRANT` (`_` → `\_`), is longer
    /// than the 64 characters mysqld keeps.
    #[error(
        "database {0:?} cannot be granted on: its name with '_' and '%' escaped is longer than 64 characters"
    )]
    Ungrantable(String),
}

/// How a failure is presented to the control plane (trove-wire §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Bad input: `BadRequest`.
    BadRequest,
    /// `UserNotFound`.
    UserNotFound,
    /// `DatabaseNotFound`.
    DatabaseNotFound,
    /// mysqld failed: `GuestError`.
    GuestError,
    /// `DatastoreOperationNotSupported`.
    NotSupported,
    /// Unknown method: oslo's `NoSuchMethod`.
    NoSuchMethod,
}

impl FailureKind {
    /// A stable name, for the journal.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::BadRequest => "BadRequest",
            FailureKind::UserNotFound => "UserNotFound",
            FailureKind::DatabaseNotFound => "DatabaseNotFound",
            FailureKind::GuestError => "GuestError",
            FailureKind::NotSupported => "DatastoreOperationNotSupported",
            FailureKind::NoSuchMethod => "NoSuchMethod",
        }
    }

    /// The kind [`FailureKind::name`] names; `GuestError` for anything else.
    pub fn from_name(name: &str) -> Self {
        [
            FailureKind::BadRequest,
            FailureKind::UserNotFound,
            FailureKind::DatabaseNotFound,
            FailureKind::NotSupported,
            FailureKind::NoSuchMethod,
        ]
        .into_iter()
        .find(|k| k.name() == name)
        .unwrap_or(FailureKind::GuestError)
    }
}

impl ParseError {
    /// The class the control plane sees.
    pub fn kind(&self) -> FailureKind {
        match self {
            ParseError::UnknownMethod(_) => FailureKind::NoSuchMethod,
            _ => FailureKind::BadRequest,
        }
    }
}

/// The class the control plane sees for a failure of mysqld's side.
pub fn mysql_failure_kind(e: &MysqlError) -> FailureKind {
    match e {
        MysqlError::UserNotFound(_) => FailureKind::UserNotFound,
        MysqlError::DatabaseNotFound(_) => FailureKind::DatabaseNotFound,
        MysqlError::UserExists(_) => FailureKind::BadRequest,
        MysqlError::Charset(_) => FailureKind::BadRequest,
        MysqlError::NotSupported(_) => FailureKind::NotSupported,
        MysqlError::Partial { .. }
        | MysqlError::Server { .. }
        | MysqlError::Unavailable(_)
        | MysqlError::Protocol(_) => FailureKind::GuestError,
    }
}

/// Every method name this agent serves.
pub const METHODS: &[&str] = &[
    "rpc_ping",
    "create_user",
    "list_users",
    "get_user",
    "delete_user",
    "create_database",
    "list_databases",
    "delete_database",
    "update_attributes",
    "change_passwords",
    "list_access",
    "grant_access",
    "revoke_access",
    "enable_root",
    "enable_root_with_password",
    "disable_root",
    "is_root_enabled",
    "get_root_password",
    "get_hwinfo",
    "get_diagnostics",
    "get_action",
    "list_actions",
    "regenerate_password",
    "list_database_users",
];

impl Command {
    /// Parses a request. `protected` decides which names are off limits.
    pub fn parse(
        method: &str,
        args: Map<String, Value>,
        protected: &Protected,
        limits: Limits,
    ) -> Result<Command, ParseError> {
        let mut args = Args::new(args);
        let cmd = match method {
            "rpc_ping" => Command::Ping,
            "create_user" => {
                Command::CreateUsers(users::parse_create(&mut args, protected, limits)?)
            }
            "list_users" => Command::ListUsers(parse_page(&mut args)?),
            "get_user" => Command::GetUser(users::parse_account_args(&mut args, protected)?),
            "delete_user" => {
                let mut user = args.object("user")?;
                Command::DeleteUser(users::parse_account_dict(&mut user, protected)?)
            }
            "create_database" => {
                Command::CreateDatabases(databases::parse_create(&mut args, protected, limits)?)
            }
            "list_databases" => Command::ListDatabases(parse_page(&mut args)?),
            "delete_database" => {
                let mut db = args.object("database")?;
                Command::DeleteDatabase(databases::parse_name(&mut db, "_name", protected)?)
            }
            "update_attributes" => {
                let (account, change) = users::parse_update(&mut args, protected)?;
                Command::UpdateAttributes(account, change)
            }
            "change_passwords" => Command::ChangePasswords(users::parse_change_passwords(
                &mut args, protected, limits,
            )?),
            "list_access" => Command::ListAccess(users::parse_account_args(&mut args, protected)?),
            "grant_access" => {
                let account = users::parse_account_args(&mut args, protected)?;
                let list = args.list("databases", limits.max_items)?;
                let mut dbs = list
                    .into_iter()
                    .map(|v| databases::parse_grant_target(v, protected))
                    .collect::<Result<Vec<_>, _>>()?;
                dbs.sort();
                dbs.dedup();
                Command::GrantAccess(account, dbs)
            }
            "revoke_access" => {
                let account = users::parse_account_args(&mut args, protected)?;
                let db = databases::parse_db_ref(args.required("database")?, protected)?;
                Command::RevokeAccess(account, db)
            }
            "enable_root" => Command::EnableRoot(None),
            "enable_root_with_password" => Command::EnableRoot(root::parse_password(&mut args)?),
            "disable_root" => Command::DisableRoot,
            "is_root_enabled" => Command::IsRootEnabled,
            "get_root_password" => Command::GetRootPassword,
            "get_hwinfo" => Command::GetHwInfo,
            "get_diagnostics" => Command::GetDiagnostics,
            "get_action" => Command::GetAction(args.count("id")?),
            "list_actions" => Command::ListActions(
                args.opt_count("limit")?,
                args.opt_count("marker")?.map(|m| m as u64),
            ),
            "regenerate_password" => {
                Command::RegeneratePassword(users::parse_account_args(&mut args, protected)?)
            }
            "list_database_users" => Command::ListDatabaseUsers(
                args.opt_count("page")?.unwrap_or(1),
                args.opt_count("per_page")?
                    .unwrap_or(cloud66::DEFAULT_PER_PAGE),
            ),
            other => return Err(ParseError::UnknownMethod(other.to_owned())),
        };
        Ok(cmd)
    }

    /// The wire method name.
    pub fn method(&self) -> &'static str {
        match self {
            Command::Ping => "rpc_ping",
            Command::CreateUsers(_) => "create_user",
            Command::ListUsers(_) => "list_users",
            Command::GetUser(_) => "get_user",
            Command::DeleteUser(_) => "delete_user",
            Command::CreateDatabases(_) => "create_database",
            Command::ListDatabases(_) => "list_databases",
            Command::DeleteDatabase(_) => "delete_database",
            Command::UpdateAttributes(..) => "update_attributes",
            Command::ChangePasswords(_) => "change_passwords",
            Command::ListAccess(_) => "list_access",
            Command::GrantAccess(..) => "grant_access",
            Command::RevokeAccess(..) => "revoke_access",
            Command::EnableRoot(_) => "enable_root",
            Command::DisableRoot => "disable_root",
            Command::IsRootEnabled => "is_root_enabled",
            Command::GetRootPassword => "get_root_password",
            Command::GetHwInfo => "get_hwinfo",
            Command::GetDiagnostics => "get_diagnostics",
            Command::GetAction(_) => "get_action",
            Command::ListActions(..) => "list_actions",
            Command::RegeneratePassword(_) => "regenerate_password",
            Command::ListDatabaseUsers(..) => "list_database_users",
        }
    }

    /// For commands that change mysqld: the action they are journaled as
    /// (`action_type`, `resource_type`, `resource_id`). They run one at a
    /// time, in the order they arrived. `None` for reads.
    pub fn action(&self) -> Option<(&'static str, &'static str, Option<String>)> {
        let one_user = |a: &Account| Some(cloud66::uid(a));
        Some(match self {
            Command::CreateUsers(u) => (
                "database_user_create",
                "database_user",
                (u.len() == 1).then(|| cloud66::uid(&u[0].account)),
            ),
            Command::DeleteUser(a) => ("database_user_delete", "database_user", one_user(a)),
            Command::UpdateAttributes(a, _) => {
                ("database_user_update", "database_user", one_user(a))
            }
            Command::ChangePasswords(c) => (
                "database_user_password_change",
                "database_user",
                (c.len() == 1).then(|| cloud66::uid(&c[0].0)),
            ),
            Command::RegeneratePassword(a) => (
                "database_user_password_change",
                "database_user",
                one_user(a),
            ),
            Command::GrantAccess(a, _) => ("database_user_grant", "database_user", one_user(a)),
            Command::RevokeAccess(a, _) => ("database_user_revoke", "database_user", one_user(a)),
            Command::CreateDatabases(d) => (
                "database_create",
                "database",
                (d.len() == 1).then(|| d[0].name.to_string()),
            ),
            Command::DeleteDatabase(n) => ("database_delete", "database", Some(n.to_string())),
            Command::EnableRoot(_) => ("root_enable", "root", None),
            Command::DisableRoot => ("root_disable", "root", None),
            _ => return None,
        })
    }

    /// Every resource the command touches, for the journal: each account as
    /// `name@host`, each database by name. Enough to check after a crash
    /// whether the command took effect; never a secret.
    pub fn resources(&self) -> Vec<String> {
        match self {
            Command::CreateUsers(u) => u.iter().map(|u| u.account.to_string()).collect(),
            Command::ChangePasswords(c) => c.iter().map(|(a, _)| a.to_string()).collect(),
            Command::DeleteUser(a)
            | Command::UpdateAttributes(a, _)
            | Command::RegeneratePassword(a)
            | Command::GrantAccess(a, _)
            | Command::RevokeAccess(a, _) => vec![a.to_string()],
            Command::CreateDatabases(d) => d.iter().map(|d| d.name.to_string()).collect(),
            Command::DeleteDatabase(n) => vec![n.to_string()],
            _ => Vec::new(),
        }
    }

    /// What a mutation must not run at the same time as another one
    /// touching (`agent::scheduler`): each account (a rename's new one too)
    /// as `user:name@host`, each database as `db:name`. Grants are not
    /// gated on their databases: creating or dropping a schema leaves its
    /// grants alone, and granting never checks that the schema exists, so
    /// the two give the same state in either order.
    pub fn gates(&self) -> Vec<String> {
        let user = |a: &Account| format!("user:{a}");
        match self {
            Command::CreateUsers(u) => u.iter().map(|u| user(&u.account)).collect(),
            Command::ChangePasswords(c) => c.iter().map(|(a, _)| user(a)).collect(),
            Command::UpdateAttributes(a, change) => std::iter::once(a)
                .chain(change.rename.as_ref())
                .map(user)
                .collect(),
            Command::DeleteUser(a)
            | Command::RegeneratePassword(a)
            | Command::GrantAccess(a, _)
            | Command::RevokeAccess(a, _) => vec![user(a)],
            Command::CreateDatabases(d) => d.iter().map(|d| format!("db:{}", d.name)).collect(),
            Command::DeleteDatabase(n) => vec![format!("db:{n}")],
            Command::EnableRoot(_) | Command::DisableRoot => {
                vec!["root".to_owned(), "user:root@%".to_owned()]
            }
            // Not a mutation; should one become one, such commands share a gate.
            _ => vec!["*".to_owned()],
        }
    }

    /// True for commands that change mysqld.
    pub fn is_mutating(&self) -> bool {
        self.action().is_some()
    }

    /// True for the methods Trove sends as casts; sent as a call instead,
    /// they answer with the action (and any generated password).
    pub fn is_trove_cast(&self) -> bool {
        matches!(
            self,
            Command::CreateUsers(_)
                | Command::DeleteUser(_)
                | Command::UpdateAttributes(..)
                | Command::ChangePasswords(_)
                | Command::CreateDatabases(_)
                | Command::DeleteDatabase(_)
        )
    }

    /// True when applying needs a password the caller did not send.
    pub fn needs_generated_password(&self) -> bool {
        match self {
            Command::CreateUsers(u) => u.iter().any(|u| u.password.is_none()),
            Command::RegeneratePassword(_) => true,
            _ => false,
        }
    }
}

/// `[[item...], next_marker]`, the shape of every Trove listing.
fn listing(items: Vec<Value>, next: Option<String>) -> Value {
    Value::Array(vec![
        Value::Array(items),
        next.map_or(Value::Null, Value::String),
    ])
}

fn parse_page(args: &mut Args) -> Result<Page, ParseError> {
    Ok(Page {
        limit: args.opt_count("limit")?,
        marker: args.opt_string("marker")?,
        include_marker: args.flag("include_marker")?,
    })
}

#[cfg(test)]
mod tests;
