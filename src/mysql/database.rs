//! mysqld as the [`Database`] the commands run against.

use std::future::Future;

use super::{Mysql, Result};
use crate::model::{
    AccessLevels, Account, AccountChange, Attempt, Database, DbInfo, DbName, Listed, NewDatabase,
    NewUser, Page, Password, Protected, Require, UserInfo,
};

impl Database for Mysql {
    fn protected(&self) -> &Protected {
        Mysql::protected(self)
    }
    fn list_users(&self, page: &Page) -> impl Future<Output = Result<Listed<UserInfo>>> + Send {
        Mysql::list_users(self, page)
    }
    fn get_user(&self, account: &Account) -> impl Future<Output = Result<Option<UserInfo>>> + Send {
        Mysql::get_user(self, account)
    }
    fn create_users(
        &self,
        users: &[NewUser],
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send {
        Mysql::create_users(self, users, attempt)
    }
    fn delete_user(
        &self,
        account: &Account,
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send {
        Mysql::delete_user(self, account, attempt)
    }
    fn account_exists(&self, account: &Account) -> impl Future<Output = Result<bool>> + Send {
        Mysql::account_exists(self, account)
    }
    fn create_databases(&self, dbs: &[NewDatabase]) -> impl Future<Output = Result<()>> + Send {
        Mysql::create_databases(self, dbs)
    }
    fn list_databases(&self, page: &Page) -> impl Future<Output = Result<Listed<DbInfo>>> + Send {
        Mysql::list_databases(self, page)
    }
    fn delete_database(
        &self,
        name: &DbName,
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send {
        Mysql::delete_database(self, name, attempt)
    }
    fn schema_exists(&self, name: &DbName) -> impl Future<Output = Result<bool>> + Send {
        Mysql::schema_exists(self, name)
    }
    fn update_account(
        &self,
        account: &Account,
        change: &AccountChange,
        attempt: Attempt,
    ) -> impl Future<Output = Result<()>> + Send {
        Mysql::update_account(self, account, change, attempt)
    }
    fn change_passwords(
        &self,
        changes: &[(Account, Password)],
    ) -> impl Future<Output = Result<()>> + Send {
        Mysql::change_passwords(self, changes)
    }
    fn list_access(&self, account: &Account) -> impl Future<Output = Result<Vec<DbName>>> + Send {
        Mysql::list_access(self, account)
    }
    fn grant_access(
        &self,
        account: &Account,
        dbs: &[DbName],
    ) -> impl Future<Output = Result<()>> + Send {
        Mysql::grant_access(self, account, dbs)
    }
    fn revoke_access(
        &self,
        account: &Account,
        db: &DbName,
    ) -> impl Future<Output = Result<()>> + Send {
        Mysql::revoke_access(self, account, db)
    }
    fn enable_root(&self, password: &Password) -> impl Future<Output = Result<Account>> + Send {
        Mysql::enable_root(self, password)
    }
    fn disable_root(&self) -> impl Future<Output = Result<()>> + Send {
        Mysql::disable_root(self)
    }
    fn is_root_enabled(&self) -> impl Future<Output = Result<bool>> + Send {
        Mysql::is_root_enabled(self)
    }
    fn tls_available(&self) -> impl Future<Output = Result<bool>> + Send {
        Mysql::tls_available(self)
    }
    fn require_all(&self, require: Require) -> impl Future<Output = Result<usize>> + Send {
        Mysql::require_all(self, require)
    }
    fn access_levels(&self) -> impl Future<Output = Result<AccessLevels>> + Send {
        Mysql::access_levels(self)
    }
}
