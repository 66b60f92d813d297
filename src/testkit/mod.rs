//! Fakes for the agent's two seams, and the whole delivery path driven
//! over them: for the crate's own tests, and (with the `testkit` feature)
//! for the fuzz targets and the integration tests, which see the agent only
//! through this module.
//!
//! | file | owns |
//! | --- | --- |
//! | `db.rs` | [`FakeDb`]: an in-memory mysqld behind the `Database` trait, with faults, latency and hangs |
//! | `broker.rs` | [`FakeBroker`]: the `Commit` seam, recording commits and failing them on request |
//! | `drive.rs` | [`Drive`]: deliveries → decode → parse → journal → fake mysqld → answer → fake broker, on a paused clock |
//! | `command.rs` | [`parse_checked`]: a parse with the design's rules asserted on what it produced |
//! | `tests.rs`, `exactly_once.rs` | the tests of the whole path and of the exactly-once core |

#[cfg(test)]
mod accounts;
mod broker;
mod command;
mod db;
mod drive;
#[cfg(test)]
mod exactly_once;
#[cfg(test)]
mod prepare;
#[cfg(test)]
mod tests;

pub use broker::{FakeBroker, Published, Settled};
pub use command::{method_names, parse_checked};
pub use db::{FakeDb, Fault};
pub use drive::{Drive, MAX_BYTES, Setup, encrypt_like_trove, envelope, inner_message, verify};

pub use crate::journal::{Journal, NewAction};
pub use crate::model::ActionType;
pub use crate::mysql::SESSION_SETUP;
pub use crate::mysql::quote::{BackslashMode, ident, literal};
pub use crate::rpc::{Codec, Crypto};

/// Every argument and field name the methods read, for generators of
/// hostile arguments (the property test here, the fuzz targets).
pub const ARGUMENT_KEYS: &[&str] = &[
    "users",
    "user",
    "username",
    "hostname",
    "user_attrs",
    "databases",
    "database",
    "limit",
    "marker",
    "include_marker",
    "root_password",
    "id",
    "page",
    "per_page",
    "async",
    "_name",
    "_host",
    "_password",
    "_databases",
    "_character_set",
    "_collate",
    "_user_type",
    "_is_root",
    "name",
    "host",
    "password",
    "packages",
    "memory_mb",
    "device_path",
    "mount_point",
    "backup_info",
    "config_contents",
    "overrides",
    "cluster_config",
    "snapshot",
    "modules",
    "ds_version",
    "fs_path",
    "_require",
    "_max_connections",
    "_max_queries_per_hour",
    "_locked",
    "_password_expire_days",
    "_auth_plugin",
    "mode",
    "container",
    "enable",
    "disable",
];

/// The conductor's exchange and routing key in a drive.
pub const CONDUCTOR: (&str, &str) = ("trove", "trove-conductor");
/// The guest id of a drive.
pub const GUEST: &str = "11111111-2222-4333-8444-555555555555";
