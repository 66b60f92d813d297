//! The method table: every RPC method the agent serves, once.
//!
//! `methods!` turns the two lists below into the [`Read`] and [`Write`]
//! enums (one variant per method file), [`Command::parse`] (by wire name),
//! [`method_names`], and the dispatch of each trait item over the variants.
//! Nothing else names the methods: adding one is a file under `read/` or
//! `write/` and a line here.

use serde_json::{Map, Value};

use super::read::{self, ReadMethod};
use super::write::{self, Effect, WriteMethod};
use super::{Answer, Args, Env, Generated, Method, ParseCx, ParseError};
use crate::instance::Instance;
use crate::model::{ActionType, Attempt, Database, DbError, DbResult, Resource};

macro_rules! methods {
    (
        read { $($rv:ident => $rt:ty,)* }
        write { $($wv:ident => $wt:ty,)* }
    ) => {
        /// A parsed method that changes nothing.
        #[derive(Debug)]
        pub enum Read {
            $(
                #[doc = concat!("`", stringify!($rt), "`")]
                $rv($rt),
            )*
        }

        /// A parsed method that changes mysqld.
        #[derive(Debug)]
        pub enum Write {
            $(
                #[doc = concat!("`", stringify!($wt), "`")]
                $wv($wt),
            )*
        }

        /// Every wire name the agent serves, aliases included.
        #[cfg(any(test, feature = "testkit"))]
        pub fn method_names() -> impl Iterator<Item = &'static str> {
            [$(<$rt>::NAME,)* $(<$wt>::NAME,)*]
                .into_iter()
                .chain([$(<$rt>::ALIASES,)* $(<$wt>::ALIASES,)*].into_iter().flatten().copied())
        }

        /// True when `method` names a method that changes mysqld.
        pub fn is_write(method: &str) -> bool {
            $(method == <$wt>::NAME || <$wt>::ALIASES.contains(&method) ||)* false
        }

        /// Tells the method named `method`, if it is a write, the final
        /// outcome of a request for it: refused before it ran, or settled
        /// from the journal.
        pub fn finished(method: &str, instance: &Instance, ok: bool) {
            $(
                if method == <$wt>::NAME || <$wt>::ALIASES.contains(&method) {
                    <$wt>::finished(instance, ok);
                }
            )*
        }

        /// What a mutation journaled as `action` leaves behind, when
        /// mysqld alone can tell whether it ran.
        pub fn effect_of(action: ActionType) -> Option<Effect> {
            $(
                if <$wt>::ACTION == action && <$wt>::EFFECT.is_some() {
                    return <$wt>::EFFECT;
                }
            )*
            None
        }

        fn parse_named(method: &str, args: &mut Args, cx: &ParseCx<'_>) -> Result<Command, ParseError> {
            $(
                if method == <$rt>::NAME || <$rt>::ALIASES.contains(&method) {
                    return Ok(Command::Read(Read::$rv(<$rt>::parse(args, cx)?)));
                }
            )*
            $(
                if method == <$wt>::NAME || <$wt>::ALIASES.contains(&method) {
                    return Ok(Command::Write(Write::$wv(<$wt>::parse(args, cx)?)));
                }
            )*
            Err(ParseError::UnknownMethod(method.to_owned()))
        }

        impl Read {
            /// The method's wire name.
            pub fn name(&self) -> &'static str {
                match self { $(Read::$rv(_) => <$rt>::NAME,)* }
            }

            /// Whether its answer grows with the server.
            pub fn is_listing(&self) -> bool {
                match self { $(Read::$rv(_) => <$rt>::LISTING,)* }
            }

            /// Runs it and renders its result.
            pub async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
                match self { $(Read::$rv(m) => m.apply(env).await,)* }
            }
        }

        impl Write {
            /// The method's wire name.
            #[cfg(any(test, feature = "testkit"))]
            pub fn name(&self) -> &'static str {
                match self { $(Write::$wv(_) => <$wt>::NAME,)* }
            }

            /// The action it is journaled as.
            pub fn action(&self) -> ActionType {
                match self { $(Write::$wv(_) => <$wt>::ACTION,)* }
            }

            /// It changes every account: it runs alone.
            pub fn is_instance_wide(&self) -> bool {
                match self { $(Write::$wv(_) => <$wt>::INSTANCE_WIDE,)* }
            }

            /// A call is answered `{"action", "passwords"}`.
            pub fn replies_with_action(&self) -> bool {
                match self { $(Write::$wv(_) => <$wt>::ACTION_REPLY,)* }
            }

            /// Everything it touches.
            pub fn resources(&self) -> Vec<Resource> {
                match self { $(Write::$wv(m) => m.resources(),)* }
            }

            /// What it changes, by name.
            pub fn changed(&self) -> Vec<&'static str> {
                match self { $(Write::$wv(m) => m.changed(),)* }
            }

            /// What it must not run beside.
            pub fn gates(&self) -> Vec<Resource> {
                match self { $(Write::$wv(m) => m.gates(),)* }
            }

            /// It needs a password only a reply can hand back.
            pub fn needs_generated_password(&self) -> bool {
                match self { $(Write::$wv(m) => m.needs_generated_password(),)* }
            }

            /// Generates the passwords the caller left to the agent.
            pub fn generate_passwords(&mut self) -> Result<Generated, DbError> {
                let mut generated = Generated::default();
                match self { $(Write::$wv(m) => m.generate_passwords(&mut generated)?,)* }
                Ok(generated)
            }

            /// Applies it.
            pub async fn apply<D: Database>(&self, env: Env<'_, D>, attempt: Attempt) -> DbResult<Value> {
                match self { $(Write::$wv(m) => m.apply(env, attempt).await,)* }
            }

            /// What the journal keeps of its result.
            pub fn journaled(&self, result: Value) -> Value {
                match self { $(Write::$wv(_) => <$wt>::journaled(result),)* }
            }

            /// Tells it its final outcome.
            pub fn finished(&self, instance: &Instance, ok: bool) {
                match self { $(Write::$wv(_) => <$wt>::finished(instance, ok),)* }
            }
        }
    };
}

methods! {
    read {
        Ping => read::ping::Ping,
        ListUsers => read::list_users::ListUsers,
        GetUser => read::get_user::GetUser,
        ListDatabases => read::list_databases::ListDatabases,
        ListAccess => read::list_access::ListAccess,
        IsRootEnabled => read::is_root_enabled::IsRootEnabled,
        GetRootPassword => read::get_root_password::GetRootPassword,
        GetRootHistory => read::get_root_history::GetRootHistory,
        GetHwInfo => read::get_hwinfo::GetHwInfo,
        GetDiagnostics => read::get_diagnostics::GetDiagnostics,
        GetFilesystemStats => read::get_filesystem_stats::GetFilesystemStats,
        GetAction => read::get_action::GetAction,
        ListActions => read::list_actions::ListActions,
        ListDatabaseUsers => read::list_database_users::ListDatabaseUsers,
        StopDb => read::stop_db::StopDb,
        SslShow => read::ssl_show::SslShow,
    }
    write {
        CreateUser => write::create_user::CreateUser,
        DeleteUser => write::delete_user::DeleteUser,
        UpdateAttributes => write::update_attributes::UpdateAttributes,
        ChangePasswords => write::change_passwords::ChangePasswords,
        GrantAccess => write::grant_access::GrantAccess,
        RevokeAccess => write::revoke_access::RevokeAccess,
        CreateDatabase => write::create_database::CreateDatabase,
        DeleteDatabase => write::delete_database::DeleteDatabase,
        EnableRoot => write::enable_root::EnableRoot,
        DisableRoot => write::disable_root::DisableRoot,
        RegeneratePassword => write::regenerate_password::RegeneratePassword,
        Prepare => write::prepare::Prepare,
        SslAction => write::ssl_action::SslAction,
        SslRollback => write::ssl_rollback::SslRollback,
    }
}

/// One request from the control plane, validated.
#[derive(Debug)]
pub enum Command {
    /// Changes nothing.
    Read(Read),
    /// Changes mysqld; journaled.
    Write(Write),
}

impl Command {
    /// Parses a request: the method by its wire name, its arguments into
    /// typed values. Arguments the method does not read are ignored, as
    /// Trove's own agent ignores them.
    pub fn parse(
        method: &str,
        args: Map<String, Value>,
        cx: &ParseCx<'_>,
    ) -> Result<Command, ParseError> {
        parse_named(method, &mut Args::new(args), cx)
    }

    /// The method's wire name.
    #[cfg(any(test, feature = "testkit"))]
    pub fn name(&self) -> &'static str {
        match self {
            Command::Read(r) => r.name(),
            Command::Write(w) => w.name(),
        }
    }
}
