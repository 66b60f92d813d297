//! What commands need of a database, as a trait: `mysql::Mysql` in
//! production, an in-memory fake (`testkit::FakeDb`, behind the `testkit`
//! feature) in the tests and fuzz targets that drive the whole delivery path
//! without a mysqld.
//!
//! Every method takes validated values only and answers in the mysql
//! layer's types; the semantics (what "exists" means, what a recovery mode
//! retry accepts, what a listing hides) are those documented on `Mysql`'s
//! methods of the same names.

use std::future::Future;

use super::{
    AccessLevel, Account, AccountChange, AccountView, Attempt, DbInfo, DbName, DbResult as Result,
    NewDatabase, NewUser, Page, Password, Protected, Require, UserInfo,
};

/// A page of a listing and the marker of the next one.
pub type Listed<T> = (Vec<T>, Option<String>);

/// The database a command runs against.
pub trait Database: Send + Sync + 'static {
    /// The accounts and schemas no command may touch.
    fn protected(&self) -> &Protected;
    /// `list_users`.
    fn list_users(&self, page: &Page) -> impl Future<Output = Result<Listed<UserInfo>>> + Send;
    /// `get_user`: `None` when absent.
    fn get_user(&self, account: &Account) -> impl Future<Output = Result<Option<UserInfo>>> + Send;
    /// `create_user`.
    fn create_users(
        &self,
        users: &[NewUser],
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send;
    /// `delete_user`.
    fn delete_user(
        &self,
        account: &Account,
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Whether the account exists.
    fn account_exists(&self, account: &Account) -> impl Future<Output = Result<bool>> + Send;
    /// `create_database`.
    fn create_databases(&self, dbs: &[NewDatabase]) -> impl Future<Output = Result<()>> + Send;
    /// `list_databases`.
    fn list_databases(&self, page: &Page) -> impl Future<Output = Result<Listed<DbInfo>>> + Send;
    /// `delete_database`.
    fn delete_database(
        &self,
        name: &DbName,
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Whether the schema exists.
    fn schema_exists(&self, name: &DbName) -> impl Future<Output = Result<bool>> + Send;
    /// `update_attributes`.
    fn update_account(
        &self,
        account: &Account,
        change: &AccountChange,
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send;
    /// `change_passwords`.
    fn change_passwords(
        &self,
        changes: &[(Account, Password)],
    ) -> impl Future<Output = Result<()>> + Send;
    /// `list_access`.
    fn list_access(&self, account: &Account) -> impl Future<Output = Result<Vec<DbName>>> + Send;
    /// `grant_access`.
    fn grant_access(
        &self,
        account: &Account,
        dbs: &[DbName],
    ) -> impl Future<Output = Result<()>> + Send;
    /// `revoke_access`.
    fn revoke_access(
        &self,
        account: &Account,
        db: &DbName,
    ) -> impl Future<Output = Result<()>> + Send;
    /// `enable_root`: the account enabled.
    fn enable_root(&self, password: &Password) -> impl Future<Output = Result<Account>> + Send;
    /// `disable_root`.
    fn disable_root(&self) -> impl Future<Output = Result<()>> + Send;
    /// `is_root_enabled`.
    fn is_root_enabled(&self) -> impl Future<Output = Result<bool>> + Send;
    /// Whether mysqld serves TLS (`have_ssl` is `YES`).
    fn tls_available(&self) -> impl Future<Output = Result<bool>> + Send;
    /// Sets `REQUIRE` on every listed account but remote root; how many.
    fn require_all(&self, require: Require) -> impl Future<Output = Result<usize>> + Send;
    /// Every listed account with the databases it holds anything on.
    fn access_levels(&self) -> impl Future<Output = Result<AccessLevels>> + Send;
}

/// Accounts with what each holds on which database, sorted by account.
pub type AccessLevels = Vec<(Account, AccountView, Vec<(DbName, AccessLevel)>)>;
