//! `prepare(memory_mb, packages, databases, users, device_path, mount_point,
//! backup_info, config_contents, root_password, overrides, cluster_config,
//! snapshot, modules, ds_version)` (cast, version 1.1): what Trove's
//! taskmanager sends a new instance's guest once, right after the server
//! boots.
//!
//! A guestagent image provides mysqld itself, installed, configured and
//! running (or starting) on its volume: the arguments about that
//! (`packages`, `device_path`, `mount_point`, `config_contents`,
//! `memory_mb`, `ds_version`) are checked for their type and logged, not
//! acted on. What the create request asked for is done, as one
//! `instance_prepare` action with the checks of the individual methods:
//! the `databases`, then the `users` (with ALL on their `_databases`), then
//! remote root with `root_password` if one is given, each list all or
//! nothing as in `create_database` and `create_user`. While it runs the
//! heartbeat says `building`; after it, mysqld's status, and Trove's
//! prepare-done marker is written (`instance`); if it failed, `failed to
//! spawn`, with the reason in the cast's outcome to the conductor.
//!
//! A request that needs what the agent cannot do is refused as not
//! supported, never silently half-done: a backup to restore
//! (`backup_info`), a cluster member (`cluster_config`), a replica
//! (`snapshot`), modules to apply (`modules`), or a configuration group
//! (`overrides`).

use serde_json::Value;

use super::Effect;
use super::create_database::parse_databases;
use super::create_user::{following_tls, parse_users};
use crate::command::{Args, Env, Generated, Method, ParseCx, ParseError, WriteMethod, parse};
use crate::instance::Instance;
use crate::model::{
    ActionType, Attempt, Database, DbError, DbResult, NewDatabase, NewUser, Password, Resource,
};

/// `prepare`.
#[derive(Debug)]
pub struct Prepare {
    /// Schemas to create, before the users.
    pub databases: Vec<NewDatabase>,
    /// Accounts to create, with their grants.
    pub users: Vec<NewUser>,
    /// Remote root's password, when the create request enabled root.
    pub root_password: Option<Password>,
    /// What the image provides, for the log: `(argument, value)`.
    pub provided: Vec<(&'static str, String)>,
}

impl Method for Prepare {
    const NAME: &'static str = "prepare";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        for (arg, what) in [
            ("backup_info", "restoring a backup"),
            ("cluster_config", "building a cluster member"),
            ("snapshot", "building a replica"),
        ] {
            if args.optional(arg).is_some() {
                return Err(unsupported(arg, what));
            }
        }
        if non_empty(args.optional("modules")) {
            return Err(unsupported("modules", "applying modules"));
        }
        if non_empty(args.optional("overrides")) {
            return Err(unsupported("overrides", "applying a configuration group"));
        }
        let databases = match list(args, "databases", cx)? {
            Some(l) => parse_databases(l, cx)?,
            None => Vec::new(),
        };
        let users = match list(args, "users", cx)? {
            Some(l) => parse_users(l, cx)?,
            None => Vec::new(),
        };
        let root_password = args
            .opt_string("root_password")?
            .map(parse::password)
            .transpose()?;
        let mut provided = Vec::new();
        for arg in ["device_path", "mount_point", "ds_version"] {
            if let Some(v) = args.opt_string(arg)? {
                provided.push((arg, v));
            }
        }
        if let Some(v) = args.optional("memory_mb") {
            let Some(mb) = v.as_u64() else {
                return Err(ParseError::Type {
                    arg: "memory_mb",
                    expected: "a whole number",
                });
            };
            provided.push(("memory_mb", mb.to_string()));
        }
        match args.optional("packages") {
            None => {}
            Some(Value::String(s)) => provided.push(("packages", s)),
            Some(Value::Array(list)) if list.iter().all(Value::is_string) => {
                let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                provided.push(("packages", names.join(" ")));
            }
            Some(_) => {
                return Err(ParseError::Type {
                    arg: "packages",
                    expected: "a string or a list of strings",
                });
            }
        }
        if let Some(c) = args.opt_string("config_contents")? {
            provided.push(("config_contents", format!("{} bytes", c.len())));
        }
        Ok(Prepare {
            databases,
            users,
            root_password,
            provided,
        })
    }
}

/// A list argument that may be absent, null or empty, at most the limit.
fn list(
    args: &mut Args,
    arg: &'static str,
    cx: &ParseCx<'_>,
) -> Result<Option<Vec<Value>>, ParseError> {
    match args.optional(arg) {
        None => Ok(None),
        Some(Value::Array(l)) if l.len() > cx.limits.max_items => Err(ParseError::TooMany {
            arg,
            limit: cx.limits.max_items,
        }),
        Some(Value::Array(l)) => Ok(Some(l)),
        Some(_) => Err(ParseError::Type {
            arg,
            expected: "a list",
        }),
    }
}

/// True for a value that asks for something: not null, `[]`, `{}` or `""`.
fn non_empty(v: Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

fn unsupported(arg: &'static str, what: &str) -> ParseError {
    ParseError::Unsupported(format!(
        "prepare with {arg}: {what} is not supported by guestagent; \
         the image provides mysqld and only the request's databases, users \
         and root password are applied"
    ))
}

impl WriteMethod for Prepare {
    const ACTION: ActionType = ActionType::InstancePrepare;
    const TROVE_CAST: bool = true;
    const EFFECT: Option<Effect> = Some(Effect::Present);

    fn resources(&self) -> Vec<Resource> {
        let dbs = self
            .databases
            .iter()
            .map(|d| Resource::Database(d.name.clone()));
        let users = self.users.iter().map(|u| Resource::User(u.account.clone()));
        dbs.chain(users).collect()
    }

    /// Its accounts and schemas, and remote root when it sets it.
    fn gates(&self) -> Vec<Resource> {
        let mut gates = self.resources();
        if self.root_password.is_some() {
            gates.push(Resource::User(crate::model::Account::remote_root()));
        }
        gates
    }

    fn needs_generated_password(&self) -> bool {
        Generated::needed(&self.users)
    }

    fn generate_passwords(&mut self, generated: &mut Generated) -> Result<(), DbError> {
        generated.fill(&mut self.users)
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, attempt: Attempt) -> DbResult<Value> {
        env.instance.begin_prepare();
        for (arg, value) in &self.provided {
            tracing::info!(argument = arg, value = %crate::logging::shown(value), "prepare: provided by the image, not applied");
        }
        if !self.databases.is_empty() {
            env.db.create_databases(&self.databases).await?;
        }
        if !self.users.is_empty() {
            env.db
                .create_users(&following_tls(&self.users, env.instance), attempt)
                .await?;
        }
        if let Some(password) = &self.root_password {
            env.db.enable_root(password).await?;
        }
        Ok(Value::Null)
    }

    /// A prepare that cannot run is a failed one, as with Trove's agent.
    fn finished(instance: &Instance, ok: bool) {
        instance.end_prepare(ok);
    }
}
