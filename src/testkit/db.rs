//! An in-memory [`Database`], for tests and fuzz targets that drive the whole
//! delivery path (decode → parse → apply → answer) without a mysqld.
//!
//! It keeps accounts, their database-level grants, schemas and remote root,
//! with the semantics of `Mysql`'s methods (what exists, what a listing
//! hides, what a recovery-mode retry accepts). A script of [`Fault`]s, one
//! taken per call, makes calls fail as mysqld does: away (retryable), away
//! after the change landed (the answer lost), or refusing a statement.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::model::{
    AccessLevel, AccessLevels, Account, AccountAttrs, AccountChange, AccountView, Attempt, Charset,
    Database, DbError, DbInfo, DbName, DbResult as Result, Expiry, HostPattern, Listed,
    NewDatabase, NewUser, Page, Password, Protected, Require, UserInfo, UserName, is_local_host,
};

/// How one call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// mysqld is away: nothing happens, the call fails retryably.
    Away,
    /// The change lands, then the connection breaks before the answer.
    LostAnswer,
    /// mysqld refuses the statement (a permanent error).
    Refused,
    /// The change lands and the call never returns: the agent is killed
    /// (its runtime dropped) while it waits.
    Hang,
}

/// The fake server.
#[derive(Debug)]
pub struct FakeDb {
    protected: Protected,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// `(name, host)` → grants by database.
    accounts: BTreeMap<(String, String), BTreeMap<DbName, AccessLevel>>,
    schemas: BTreeMap<DbName, (String, String)>,
    /// Each account's attributes, as mysqld would hold them.
    views: BTreeMap<(String, String), AccountView>,
    /// mysqld serves TLS.
    tls: bool,
    faults: VecDeque<Option<Fault>>,
    calls: u64,
    /// How long each call takes (on tokio's clock, so paused tests skip it).
    latency: Duration,
    in_flight: usize,
    most_in_flight: usize,
}

const CHARSETS: &[(&str, &str)] = &[
    ("utf8mb3", "utf8mb3_general_ci"),
    ("utf8mb4", "utf8mb4_general_ci"),
    ("latin1", "latin1_swedish_ci"),
];

impl FakeDb {
    /// An empty server protecting `protected`.
    pub fn new(protected: Protected) -> Self {
        FakeDb {
            protected,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Queues faults: each call takes the next (`None` = no fault).
    pub fn script(&self, faults: impl IntoIterator<Item = Option<Fault>>) {
        self.lock().faults.extend(faults);
    }

    /// Adds an account directly, as another tool would.
    pub fn add_account(&self, name: &str, host: &str) {
        self.lock()
            .accounts
            .entry((name.to_owned(), host.to_owned()))
            .or_default();
    }

    /// Whether `name@host` exists.
    pub fn has_account(&self, name: &str, host: &str) -> bool {
        self.lock()
            .accounts
            .contains_key(&(name.to_owned(), host.to_owned()))
    }

    /// Makes the server serve TLS, or not.
    pub fn set_tls(&self, on: bool) {
        self.lock().tls = on;
    }

    /// Whether the schema exists.
    pub fn has_schema(&self, name: &str) -> bool {
        self.lock().schemas.keys().any(|d| d.as_str() == name)
    }

    /// Every account, as `name@host`.
    pub fn accounts(&self) -> Vec<String> {
        self.lock()
            .accounts
            .keys()
            .map(|(n, h)| format!("{n}@{h}"))
            .collect()
    }

    /// How many calls were made.
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    /// The same server (its accounts, schemas and script), as a second
    /// process would see it: for an agent restarted over it.
    pub fn share(&self) -> FakeDb {
        FakeDb {
            protected: self.protected.clone(),
            state: self.state.clone(),
        }
    }

    /// Makes every call take `latency` (after its change lands).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The most calls that were in progress at once; resets the count.
    pub fn take_most_in_flight(&self) -> usize {
        let mut s = self.lock();
        let now = s.in_flight;
        std::mem::replace(&mut s.most_in_flight, now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Runs one call: takes its fault, applies `f` unless mysqld is away.
    fn run<T>(&self, f: impl FnOnce(&mut State, &Protected) -> Result<T>) -> Pending<T> {
        let mut state = self.lock();
        state.calls += 1;
        state.in_flight += 1;
        state.most_in_flight = state.most_in_flight.max(state.in_flight);
        let fault = state.faults.pop_front().flatten();
        let result = match fault {
            Some(Fault::Away) => Err(DbError::Unavailable("fake mysqld is away".into())),
            Some(Fault::Refused) => Err(DbError::Server {
                what: "a statement".into(),
                code: 1227,
                message: "fake mysqld refused".into(),
            }),
            Some(Fault::LostAnswer) => {
                let _ = f(&mut state, &self.protected);
                Err(DbError::Unavailable("fake mysqld went away".into()))
            }
            Some(Fault::Hang) | None => f(&mut state, &self.protected),
        };
        Pending {
            result,
            latency: state.latency,
            hang: fault == Some(Fault::Hang),
            state: self.state.clone(),
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A call's result, handed back once its latency has passed.
struct Pending<T> {
    result: Result<T>,
    latency: Duration,
    hang: bool,
    state: Arc<Mutex<State>>,
}

fn key(a: &Account) -> (String, String) {
    (a.name.as_str().to_owned(), a.host.as_str().to_owned())
}

async fn ready<T: Send>(p: Pending<T>) -> Result<T> {
    if p.hang {
        std::future::pending::<()>().await;
    }
    if !p.latency.is_zero() {
        tokio::time::sleep(p.latency).await;
    }
    lock(&p.state).in_flight -= 1;
    p.result
}

impl State {
    fn exists(&self, a: &Account) -> bool {
        self.accounts.contains_key(&key(a))
    }

    fn view(&self, a: &(String, String)) -> AccountView {
        self.views.get(a).cloned().unwrap_or_else(|| AccountView {
            require: "none",
            plugin: "mysql_native_password".into(),
            ..AccountView::default()
        })
    }

    fn set_attrs(&mut self, a: (String, String), attrs: &AccountAttrs) {
        let mut v = self.view(&a);
        if let Some(r) = attrs.require {
            v.require = r.name();
        }
        if let Some(n) = attrs.max_connections {
            v.max_connections = n;
        }
        if let Some(n) = attrs.max_queries_per_hour {
            v.max_queries_per_hour = n;
        }
        if let Some(l) = attrs.locked {
            v.locked = l;
        }
        match attrs.password_expire {
            Some(Expiry::Never) => v.password_expire_days = Some(0),
            Some(Expiry::Days(n)) => v.password_expire_days = Some(u32::from(n)),
            None => {}
        }
        self.views.insert(a, v);
    }

    fn users(&self, protected: &Protected) -> Vec<UserInfo> {
        self.accounts
            .iter()
            .filter_map(|((name, host), grants)| {
                let is_root = name == "root";
                let remote_root = is_root && !is_local_host(host);
                if protected.is_system_user(name, host) && !remote_root {
                    return None;
                }
                let account = Account {
                    name: UserName::parse(name).ok()?,
                    host: HostPattern::from_server(host.clone()),
                };
                let databases = grants
                    .iter()
                    .filter(|(_, l)| **l == AccessLevel::All)
                    .map(|(d, _)| d.clone())
                    .collect();
                Some(UserInfo {
                    account,
                    databases,
                    is_root,
                    view: self.view(&(name.clone(), host.clone())),
                })
            })
            .collect()
    }
}

impl Database for FakeDb {
    fn protected(&self) -> &Protected {
        &self.protected
    }

    fn list_users(&self, page: &Page) -> impl Future<Output = Result<Listed<UserInfo>>> + Send {
        ready(self.run(|s, p| {
            let mut users = s.users(p);
            users.sort_by_key(UserInfo::marker);
            Ok(page.apply(users, UserInfo::marker))
        }))
    }

    fn get_user(&self, account: &Account) -> impl Future<Output = Result<Option<UserInfo>>> + Send {
        ready(self.run(|s, _| {
            Ok(s.accounts.get(&key(account)).map(|grants| UserInfo {
                account: account.clone(),
                databases: grants
                    .iter()
                    .filter(|(_, l)| **l == AccessLevel::All)
                    .map(|(d, _)| d.clone())
                    .collect(),
                is_root: account.name.as_str() == "root",
                view: s.view(&key(account)),
            }))
        }))
    }

    fn create_users(
        &self,
        users: &[NewUser],
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send {
        ready(self.run(|s, _| {
            for u in users {
                if s.exists(&u.account) && attempt == Attempt::First {
                    return Err(DbError::UserExists(u.account.clone()));
                }
                if u.password.is_none() {
                    return Err(DbError::Protocol(format!("no password for {}", u.account)));
                }
            }
            for u in users {
                let level = u.access;
                let grants = s.accounts.entry(key(&u.account)).or_default();
                for d in &u.databases {
                    grants.insert(d.clone(), level);
                }
                s.set_attrs(key(&u.account), &u.attrs);
            }
            Ok(())
        }))
    }

    fn delete_user(
        &self,
        account: &Account,
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send {
        ready(self.run(|s, _| {
            s.views.remove(&key(account));
            match (s.accounts.remove(&key(account)), attempt) {
                (Some(_), _) | (None, Attempt::Recovery) => Ok(()),
                (None, Attempt::First) => Err(DbError::UserNotFound(account.clone())),
            }
        }))
    }

    fn account_exists(&self, account: &Account) -> impl Future<Output = Result<bool>> + Send {
        ready(self.run(|s, _| Ok(s.exists(account))))
    }

    fn create_databases(&self, dbs: &[NewDatabase]) -> impl Future<Output = Result<()>> + Send {
        ready(self.run(|s, _| {
            let mut resolved = Vec::with_capacity(dbs.len());
            for d in dbs {
                resolved.push((d.name.clone(), resolve(d)?));
            }
            for (name, cs) in resolved {
                s.schemas.entry(name).or_insert(cs);
            }
            Ok(())
        }))
    }

    fn list_databases(&self, page: &Page) -> impl Future<Output = Result<Listed<DbInfo>>> + Send {
        ready(self.run(|s, p| {
            let dbs = s
                .schemas
                .iter()
                .filter(|(n, _)| !p.is_system_db(n.as_str()))
                .map(|(n, (c, o))| DbInfo {
                    name: n.clone(),
                    charset: Charset::from_server(c.clone()),
                    collation: Charset::from_server(o.clone()),
                })
                .collect();
            Ok(page.apply(dbs, |d: &DbInfo| d.name.as_str().to_owned()))
        }))
    }

    fn delete_database(
        &self,
        name: &DbName,
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send {
        ready(self.run(|s, _| match (s.schemas.remove(name), attempt) {
            (Some(_), _) | (None, Attempt::Recovery) => Ok(()),
            (None, Attempt::First) => Err(DbError::DatabaseNotFound(name.clone())),
        }))
    }

    fn schema_exists(&self, name: &DbName) -> impl Future<Output = Result<bool>> + Send {
        ready(self.run(|s, _| Ok(s.schemas.contains_key(name))))
    }

    fn update_account(
        &self,
        account: &Account,
        change: &AccountChange,
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send {
        ready(self.run(|s, _| {
            let target = change.rename.as_ref().filter(|t| *t != account);
            if !s.exists(account) {
                let renamed = attempt == Attempt::Recovery && target.is_some_and(|t| s.exists(t));
                return if renamed {
                    if let Some(t) = target {
                        s.set_attrs(key(t), &change.attrs);
                    }
                    Ok(())
                } else {
                    Err(DbError::UserNotFound(account.clone()))
                };
            }
            if let Some(t) = target {
                if s.exists(t) {
                    return Err(DbError::UserExists(t.clone()));
                }
                let grants = s.accounts.remove(&key(account)).unwrap_or_default();
                s.accounts.insert(key(t), grants);
                if let Some(v) = s.views.remove(&key(account)) {
                    s.views.insert(key(t), v);
                }
            }
            s.set_attrs(key(target.unwrap_or(account)), &change.attrs);
            Ok(())
        }))
    }

    fn change_passwords(
        &self,
        changes: &[(Account, Password)],
    ) -> impl Future<Output = Result<()>> + Send {
        ready(
            self.run(|s, _| match changes.iter().find(|(a, _)| !s.exists(a)) {
                Some((a, _)) => Err(DbError::UserNotFound(a.clone())),
                None => Ok(()),
            }),
        )
    }

    fn list_access(&self, account: &Account) -> impl Future<Output = Result<Vec<DbName>>> + Send {
        ready(self.run(|s, _| {
            match s.accounts.get(&key(account)) {
                Some(grants) => Ok(grants
                    .iter()
                    .filter(|(_, l)| **l == AccessLevel::All)
                    .map(|(d, _)| d.clone())
                    .collect()),
                None => Err(DbError::UserNotFound(account.clone())),
            }
        }))
    }

    fn grant_access(
        &self,
        account: &Account,
        dbs: &[DbName],
    ) -> impl Future<Output = Result<()>> + Send {
        ready(self.run(|s, _| match s.accounts.get_mut(&key(account)) {
            Some(grants) => {
                for d in dbs {
                    grants.insert(d.clone(), AccessLevel::All);
                }
                Ok(())
            }
            None => Err(DbError::UserNotFound(account.clone())),
        }))
    }

    fn revoke_access(
        &self,
        account: &Account,
        db: &DbName,
    ) -> impl Future<Output = Result<()>> + Send {
        ready(self.run(|s, _| match s.accounts.get_mut(&key(account)) {
            Some(grants) => {
                grants.remove(db);
                Ok(())
            }
            None => Err(DbError::UserNotFound(account.clone())),
        }))
    }

    fn enable_root(&self, _password: &Password) -> impl Future<Output = Result<Account>> + Send {
        ready(self.run(|s, _| {
            let root = Account::remote_root();
            s.accounts.entry(key(&root)).or_default();
            Ok(root)
        }))
    }

    fn disable_root(&self) -> impl Future<Output = Result<()>> + Send {
        ready(self.run(|s, _| {
            s.accounts
                .retain(|(name, host), _| name != "root" || is_local_host(host));
            Ok(())
        }))
    }

    fn is_root_enabled(&self) -> impl Future<Output = Result<bool>> + Send {
        ready(self.run(|s, _| {
            Ok(s.accounts
                .keys()
                .any(|(name, host)| name == "root" && !is_local_host(host)))
        }))
    }

    fn tls_available(&self) -> impl Future<Output = Result<bool>> + Send {
        ready(self.run(|s, _| Ok(s.tls)))
    }

    fn require_all(&self, require: Require) -> impl Future<Output = Result<usize>> + Send {
        ready(self.run(|s, p| {
            let accounts: Vec<Account> = s
                .users(p)
                .into_iter()
                .filter(|u| !u.is_root)
                .map(|u| u.account)
                .collect();
            let attrs = AccountAttrs {
                require: Some(require),
                ..AccountAttrs::default()
            };
            for a in &accounts {
                s.set_attrs(key(a), &attrs);
            }
            Ok(accounts.len())
        }))
    }

    fn access_levels(&self) -> impl Future<Output = Result<AccessLevels>> + Send {
        ready(self.run(|s, p| {
            let mut users: AccessLevels = s
                .users(p)
                .into_iter()
                .filter(|u| !u.is_root)
                .map(|u| {
                    let grants = s
                        .accounts
                        .get(&key(&u.account))
                        .map(|g| g.iter().map(|(d, l)| (d.clone(), *l)).collect())
                        .unwrap_or_default();
                    (u.account, u.view, grants)
                })
                .collect();
            users.sort_by_key(|(a, _, _)| a.to_string());
            Ok(users)
        }))
    }
}

/// The character set and collation a new schema gets, as the server would
/// resolve them from a small table of known ones.
fn resolve(d: &NewDatabase) -> Result<(String, String)> {
    let known = |cs: &str| CHARSETS.iter().find(|(c, _)| *c == cs);
    let of_collation = |co: &str| CHARSETS.iter().find(|(_, o)| *o == co);
    match (&d.charset, &d.collation) {
        (None, None) => Ok(("utf8mb4".into(), "utf8mb4_general_ci".into())),
        (Some(cs), None) => known(cs.as_str())
            .map(|(c, o)| ((*c).into(), (*o).into()))
            .ok_or_else(|| DbError::Charset(format!("unknown character set {cs}"))),
        (cs, Some(co)) => match (of_collation(co.as_str()), cs) {
            (None, _) => Err(DbError::Charset(format!("unknown collation {co}"))),
            (Some((owner, _)), Some(cs)) if *owner != cs.as_str() => Err(DbError::Charset(
                format!("collation {co} does not belong to character set {cs}"),
            )),
            (Some((c, o)), _) => Ok(((*c).into(), (*o).into())),
        },
    }
}
