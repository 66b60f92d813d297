//! Running a parsed command against mysqld (and, for the action methods, the
//! journal) and rendering its result in the wire shape.

use serde_json::{Map, Value};

use super::db::Database;
use super::names::Password;
use super::{Command, cloud66, databases, listing, root, users};
use crate::journal::Journal;
use crate::mysql::MysqlError;
use crate::mysql::users::Mode;

/// What a command runs against.
#[derive(Debug)]
pub struct Env<'a, D> {
    /// mysqld.
    pub db: &'a D,
    /// The action journal.
    pub journal: &'a Journal,
}

impl<D> Clone for Env<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for Env<'_, D> {}

/// Passwords the agent generated for one command, by `name@host`: handed
/// back once, in the reply, and kept nowhere.
#[derive(Debug, Default)]
pub struct Generated(Vec<(String, Password)>);

impl Generated {
    /// `{"name@host": "<password>"}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (k, p) in &self.0 {
            m.insert(k.clone(), Value::String(p.expose_for_reply().to_owned()));
        }
        Value::Object(m)
    }

    /// True when nothing was generated.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn generate() -> Result<Password, MysqlError> {
    Password::generate()
        .map_err(|e| MysqlError::Protocol(format!("no randomness for a password: {e}")))
}

impl Command {
    /// Fills in every password the caller left to the agent, from the OS
    /// CSPRNG, before any SQL runs.
    pub fn generate_passwords(&mut self) -> Result<Generated, MysqlError> {
        let mut out = Vec::new();
        match self {
            Command::CreateUsers(list) => {
                for u in list.iter_mut().filter(|u| u.password.is_none()) {
                    let p = generate()?;
                    out.push((u.account.to_string(), p.clone()));
                    u.password = Some(p);
                }
            }
            Command::RegeneratePassword(a) => out.push((a.to_string(), generate()?)),
            _ => {}
        }
        Ok(Generated(out))
    }

    /// Runs the command and renders its result in Trove's shape.
    pub async fn apply<D: Database>(
        &self,
        env: Env<'_, D>,
        mode: Mode,
        generated: &Generated,
    ) -> Result<Value, MysqlError> {
        let db = env.db;
        let done = |r: Result<(), MysqlError>| r.map(|()| Value::Null);
        match self {
            Command::Ping => Ok(Value::Bool(true)),
            Command::CreateUsers(u) => done(db.create_users(u, mode).await),
            Command::ListUsers(p) => {
                let (items, next) = db.list_users(p).await?;
                Ok(listing(items.iter().map(users::user_json).collect(), next))
            }
            Command::GetUser(a) => Ok(db
                .get_user(a)
                .await?
                .map_or(Value::Null, |u| users::user_json(&u))),
            Command::DeleteUser(a) => done(db.delete_user(a, mode).await),
            Command::CreateDatabases(d) => done(db.create_databases(d).await),
            Command::ListDatabases(p) => {
                let (items, next) = db.list_databases(p).await?;
                Ok(listing(
                    items.iter().map(databases::db_json).collect(),
                    next,
                ))
            }
            Command::DeleteDatabase(n) => done(db.delete_database(n, mode).await),
            Command::UpdateAttributes(a, c) => done(db.update_account(a, c, mode).await),
            Command::ChangePasswords(c) => done(db.change_passwords(c).await),
            Command::ListAccess(a) => Ok(Value::Array(
                db.list_access(a)
                    .await?
                    .iter()
                    .map(databases::db_ref_json)
                    .collect(),
            )),
            Command::GrantAccess(a, dbs) => done(db.grant_access(a, dbs).await),
            Command::RevokeAccess(a, d) => done(db.revoke_access(a, d).await),
            Command::EnableRoot(pw) => root::enable(db, pw.as_ref()).await,
            Command::DisableRoot => done(db.disable_root().await),
            Command::IsRootEnabled => db.is_root_enabled().await.map(Value::Bool),
            Command::GetRootPassword => Err(MysqlError::NotSupported(
                "get_root_password is not supported for MySQL/MariaDB: \
                 the root password is returned once, by enable_root"
                    .into(),
            )),
            Command::GetHwInfo => Ok(crate::host::hwinfo()),
            Command::GetDiagnostics => Ok(crate::host::diagnostics()),
            Command::GetAction(id) => Ok(env
                .journal
                .get(*id)
                .map_or(Value::Null, |a| a.public_json())),
            Command::ListActions(limit, marker) => {
                let (page, next) = env
                    .journal
                    .list(limit.unwrap_or(cloud66::DEFAULT_PER_PAGE), *marker);
                Ok(Value::Array(vec![
                    Value::Array(page.iter().map(|a| a.public_json()).collect()),
                    next.map_or(Value::Null, Value::from),
                ]))
            }
            Command::RegeneratePassword(a) => {
                let pw = generated
                    .0
                    .first()
                    .map(|(_, p)| p.clone())
                    .ok_or_else(|| MysqlError::Protocol("no generated password".into()))?;
                done(db.change_passwords(&[(a.clone(), pw)]).await)
            }
            Command::ListDatabaseUsers(page, per_page) => {
                cloud66::list_database_users(env, *page, *per_page).await
            }
        }
    }
}
