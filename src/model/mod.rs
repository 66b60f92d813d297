//! The agent's vocabulary: the values every other layer speaks in.
//!
//! Nothing here does I/O. `command` parses wire arguments into these types,
//! `mysql` turns them into SQL, `journal` records them, and the [`Database`]
//! trait is the seam between the two middle layers: `command` is written
//! against it, `mysql::Mysql` implements it in production and
//! `testkit::FakeDb` in tests.
//!
//! | file | owns |
//! | --- | --- |
//! | `names.rs` | [`UserName`], [`HostPattern`], [`DbName`], [`Charset`], [`Account`]: only built valid |
//! | `password.rs` | [`Password`]: never shown, zeroized |
//! | `policy.rs` | [`Protected`]: the system accounts and schemas no command may touch |
//! | `privilege.rs` | [`Privilege`]: a name `GRANT` may take from configuration |
//! | `access.rs` | [`AccessLevel`]: what an account holds on a database |
//! | `auth.rs` | [`AuthPlugin`]: the authentication plugins whose stored form the agent computes |
//! | `user.rs`, `schema.rs` | accounts and schemas to create, change, or as listed |
//! | `page.rs` | [`Page`]: Trove's marker paging |
//! | `attrs.rs` | [`AccountAttrs`], [`AccountView`]: TLS requirement, limits, locking, expiry |
//! | `attempt.rs` | [`Attempt`]: a first try, or finishing one a crash interrupted |
//! | `action.rs` | [`ActionType`], [`Resource`]: what the journal records of a mutation |
//! | `class.rs` | [`WireClass`], [`Disposition`]: how every failure is reported and handled |
//! | `error.rs` | [`DbError`]: what can go wrong applying a command |
//! | `database.rs` | [`Database`]: what commands need of mysqld |

mod access;
mod action;
mod attempt;
mod attrs;
mod auth;
mod class;
mod database;
mod error;
mod names;
mod page;
mod password;
mod policy;
mod privilege;
mod schema;
mod user;

pub use access::AccessLevel;
pub use action::{ActionType, Resource};
pub use attempt::Attempt;
pub use attrs::{AccountAttrs, AccountView, Expiry, MAX_LIMIT, Require, TlsMode};
pub use auth::AuthPlugin;
pub use class::{Classify, Disposition, WireClass};
pub use database::{AccessLevels, Database, Listed};
pub use error::{DbError, DbResult, partial};
pub use names::{Account, Charset, DbName, HostPattern, NameError, UserName, is_local_host};
pub use page::Page;
pub use password::Password;
pub use policy::Protected;
pub use privilege::Privilege;
pub use schema::{DbInfo, NewDatabase};
pub use user::{AccountChange, NewUser, UserInfo};
