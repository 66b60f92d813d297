//! The local mysqld, reached over its unix socket.
//!
//! This is the only module that speaks SQL. Everything it is handed is a typed
//! value from [`crate::model`], and it imports nothing else of the agent's
//! but the configuration it is opened with; statements are assembled with the quoting in
//! [`quote`], values compared in `WHERE` clauses go as bound parameters, and
//! passwords travel only as authentication hashes.
//!
//! At connect time the server is probed once ([`Server`]): its flavor (MariaDB
//! or MySQL, which changes account syntax), whether `mysql.user` has roles in
//! it, and which columns of `mysql.db` a database-level `ALL PRIVILEGES`
//! sets. Later queries use those facts instead of asking again.

mod access;
mod account;
mod admin;
mod alter;
mod auth;
mod database;
mod databases;
mod error;
mod priv_doc;
pub(crate) mod quote;
mod root;
mod users;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Pool, PoolConstraints, PoolOpts};
use secrecy::ExposeSecret;

pub use admin::{Bootstrapped, bootstrap};
use error::{driver_error, driver_error_secret};
use quote::BackslashMode;

use crate::config::MysqlConfig;
use crate::model::{Account, AuthPlugin, DbError, DbResult as Result, Privilege, Protected};

/// Which server family the agent is talking to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// MariaDB (any version the agent supports).
    MariaDb,
    /// Oracle MySQL 5.7 / 8.x.
    MySql,
}

/// Facts about the server learned once at connect.
#[derive(Debug, Clone)]
pub struct Server {
    /// MariaDB or MySQL.
    pub flavor: Flavor,
    /// `@@version`, for logs and diagnostics.
    pub version: String,
    /// `mysql.role_edges` exists (MySQL 8): roles granted to accounts.
    pub has_role_edges: bool,
    /// `mysql.global_priv` exists (MariaDB 10.4+): accounts live there.
    pub has_global_priv: bool,
    /// The `*_priv` columns of `mysql.db` that `GRANT ALL` sets to `Y`.
    pub db_all_priv_columns: Vec<String>,
    /// The authentication plugins the server has active.
    pub auth_plugins: Vec<String>,
    /// The plugin new accounts get: `mysql.auth_plugin`, or the server's
    /// own default (MySQL 8.0+: `caching_sha2_password`).
    pub auth: AuthPlugin,
}

/// Whether `plugin` is among the `active` plugin names the server reported.
fn plugin_active(active: &[String], plugin: AuthPlugin) -> bool {
    active.iter().any(|a| a.eq_ignore_ascii_case(plugin.name()))
}

impl Server {
    /// Whether the server has `plugin` active.
    pub fn has_plugin(&self, plugin: AuthPlugin) -> bool {
        plugin_active(&self.auth_plugins, plugin)
    }

    /// `plugin`, asked for `account`, must be active on the server.
    pub fn require_plugin(&self, account: &Account, plugin: AuthPlugin) -> Result<()> {
        if self.has_plugin(plugin) {
            return Ok(());
        }
        Err(DbError::NotSupported(format!(
            "{account}: the server has no active {plugin} authentication plugin"
        )))
    }

    /// The plugin for a password set on an account now using `current`
    /// (`None`: a new account): the account keeps a plugin whose stored
    /// form the agent computes, anything else gets the default.
    pub fn plugin_for(&self, current: Option<&str>) -> AuthPlugin {
        current
            .and_then(AuthPlugin::parse)
            .filter(|p| self.has_plugin(*p))
            .unwrap_or(self.auth)
    }

    /// SQL predicate (over `mysql.db`) true when a row grants ALL PRIVILEGES.
    fn db_all_privileges_predicate(&self) -> String {
        if self.db_all_priv_columns.is_empty() {
            return "FALSE".into();
        }
        self.db_all_priv_columns
            .iter()
            .map(|c| format!("{} = 'Y'", quote::ident(c)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

/// Connections to mysqld at most: reads and mutations share them (see
/// `agent::scheduler`).
pub const POOL_SIZE: usize = 4;

/// A handle on mysqld: a small connection pool plus what the probe learned.
#[derive(Clone)]
pub struct Mysql {
    pool: Pool,
    /// Set by the first successful connection.
    server: Arc<OnceLock<Server>>,
    protected: Protected,
    /// What `enable_root` grants (`mysql.root_grant`, `root_grant_option`).
    root_grant: Arc<RootGrant>,
    /// `mysql.auth_plugin`; `None` for the server's default.
    auth_plugin: Option<AuthPlugin>,
}

/// What `enable_root` grants on `*.*`.
#[derive(Debug)]
struct RootGrant {
    privileges: Vec<Privilege>,
    with_grant_option: bool,
}

/// By hand: the pool's options hold the admin password, and a derived
/// `Debug` would print them.
impl std::fmt::Debug for Mysql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mysql")
            .field("server", &self.server.get())
            .field("protected", &self.protected)
            .field("root_grant", &self.root_grant)
            .finish_non_exhaustive()
    }
}

/// Run on every new connection, so that no statement depends on a global
/// `sql_mode` someone else chose: the whole mode is pinned, not just the
/// part quoting relies on. Backslash escapes stay on (no
/// `NO_BACKSLASH_ESCAPES`), `"` stays a string quote (no `ANSI_QUOTES`),
/// `||` stays OR, and `GRANT` never creates an account it does not find
/// (`NO_AUTO_CREATE_USER`, which MariaDB and MySQL 5.7 have and MySQL 8
/// dropped along with the behaviour it guarded against).
pub const SESSION_SETUP: &str = "SET SESSION sql_mode = IF(@@version LIKE '%MariaDB%' OR @@version LIKE '5.%', \
     'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION', \
     'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION')";

/// The backslash mode every connection of the pool runs in (see [`SESSION_SETUP`]).
pub const MODE: BackslashMode = BackslashMode::Escapes;

impl Mysql {
    /// A handle on mysqld. Nothing connects yet: the first command (or
    /// heartbeat) opens a connection and probes the server, so the agent
    /// serves the broker, and reports mysqld's state, even while mysqld is
    /// away.
    pub fn new(cfg: &MysqlConfig, protected: Protected) -> Self {
        let opts = OptsBuilder::default()
            .socket(Some(cfg.socket.to_string_lossy().into_owned()))
            .user(Some(cfg.user.clone()))
            .pass(cfg.password.as_ref().map(|p| p.expose_secret().to_owned()))
            .prefer_socket(true)
            .setup(vec![SESSION_SETUP])
            .stmt_cache_size(64)
            .pool_opts(
                PoolOpts::new()
                    .with_constraints(PoolConstraints::new(0, POOL_SIZE).unwrap_or_default())
                    // Sessions hold no state between commands, so resetting
                    // them on every return to the pool is a wasted round trip.
                    .with_reset_connection(false)
                    .with_inactive_connection_ttl(Duration::from_secs(60)),
            );
        Mysql {
            pool: Pool::new(opts),
            server: Arc::new(OnceLock::new()),
            protected,
            root_grant: Arc::new(RootGrant {
                privileges: cfg.root_grant.clone(),
                with_grant_option: cfg.root_grant_option,
            }),
            auth_plugin: cfg.auth_plugin,
        }
    }

    /// What the probe learned about the server; probes now if no command
    /// has yet. Fails while mysqld is away.
    pub async fn server(&self) -> Result<&Server> {
        drop(self.conn().await?);
        self.facts()
    }

    /// The probe's facts, once [`Mysql::conn`] has succeeded.
    fn facts(&self) -> Result<&Server> {
        self.server
            .get()
            .ok_or_else(|| DbError::Unavailable("mysqld has not been probed yet".into()))
    }

    /// The protected accounts and schemas in force.
    pub fn protected(&self) -> &Protected {
        &self.protected
    }

    /// A round trip that proves mysqld answers queries.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        conn.ping().await.map_err(|e| driver_error("ping", e))
    }

    /// Closes every connection; used on shutdown.
    pub async fn close(self) {
        let _ = self.pool.disconnect().await;
    }

    /// A pooled connection to a probed server.
    async fn conn(&self) -> Result<Conn> {
        let mut conn = self
            .pool
            .get_conn()
            .await
            .map_err(|e| driver_error("connect", e))?;
        if self.server.get().is_none() {
            let facts = probe(&mut conn, self.auth_plugin).await?;
            tracing::info!(flavor = ?facts.flavor, version = %facts.version, auth_plugin = %facts.auth, "mysqld probed");
            let _ = self.server.set(facts);
        }
        Ok(conn)
    }
}

async fn probe(conn: &mut Conn, configured: Option<AuthPlugin>) -> Result<Server> {
    let version: Option<String> = conn
        .query_first("SELECT @@version")
        .await
        .map_err(|e| driver_error("probe version", e))?;
    let version = version.unwrap_or_default();
    let flavor = if version.to_ascii_lowercase().contains("mariadb") {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    };
    let columns: Vec<(String, String)> = conn
        .query(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME IN ('db', 'user', 'role_edges', 'global_priv') \
             ORDER BY ORDINAL_POSITION",
        )
        .await
        .map_err(|e| driver_error("probe privilege columns", e))?;
    let has_role_edges = columns.iter().any(|(t, _)| t == "role_edges");
    let has_global_priv = columns.iter().any(|(t, _)| t == "global_priv");
    let db_all_priv_columns = columns
        .into_iter()
        .filter(|(t, c)| t == "db" && c.ends_with("_priv") && !c.eq_ignore_ascii_case("Grant_priv"))
        .map(|(_, c)| c)
        .collect::<Vec<_>>();
    if db_all_priv_columns.is_empty() {
        return Err(DbError::Protocol(
            "mysql.db has no privilege columns visible to the agent's account".into(),
        ));
    }
    let auth_plugins: Vec<String> = conn
        .query(
            "SELECT PLUGIN_NAME FROM information_schema.PLUGINS \
             WHERE PLUGIN_TYPE = 'AUTHENTICATION' AND PLUGIN_STATUS = 'ACTIVE'",
        )
        .await
        .map_err(|e| driver_error("probe authentication plugins", e))?;
    let active = |p: AuthPlugin| plugin_active(&auth_plugins, p);
    let auth = match configured {
        Some(p) if active(p) => p,
        Some(p) => {
            return Err(DbError::NotSupported(format!(
                "mysql.auth_plugin is {p}, but the server has no active {p} plugin \
                 (load it, or choose another)"
            )));
        }
        None => default_plugin(flavor, &version, active),
    };
    Ok(Server {
        flavor,
        version,
        has_role_edges,
        has_global_priv,
        db_all_priv_columns,
        auth_plugins,
        auth,
    })
}

/// The server's own default for new accounts: `caching_sha2_password` on
/// MySQL 8.0 and later (8.4 ships `mysql_native_password` disabled, 9.0
/// without it), `mysql_native_password` on MariaDB and MySQL 5.7.
fn default_plugin(
    flavor: Flavor,
    version: &str,
    active: impl Fn(AuthPlugin) -> bool,
) -> AuthPlugin {
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    match flavor {
        Flavor::MySql if major >= 8 && active(AuthPlugin::CachingSha2) => AuthPlugin::CachingSha2,
        Flavor::MySql if !active(AuthPlugin::NativePassword) => AuthPlugin::CachingSha2,
        _ => AuthPlugin::NativePassword,
    }
}

/// Reads a text column that mysqld stores as utf8; invalid bytes cannot come
/// from the agent's own names, so they are shown replaced rather than fail a
/// whole listing.
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_admin_password() {
        let cfg = MysqlConfig {
            password: Some(secrecy::SecretString::from("db-admin-sekrit")),
            ..MysqlConfig::default()
        };
        let m = Mysql::new(&cfg, Protected::new("root", &[], &[]));
        let shown = format!("{m:?} {m:#?}");
        assert!(!shown.contains("db-admin-sekrit"), "{shown}");
        // The pool's own Debug is what a derived one would have printed.
        // What a derived Debug would have printed.
        assert!(format!("{:?}", m.pool).contains("db-admin-sekrit"));
    }

    #[test]
    fn all_privileges_predicate() {
        let s = Server {
            flavor: Flavor::MariaDb,
            version: String::new(),
            has_role_edges: false,
            has_global_priv: true,
            db_all_priv_columns: vec!["Select_priv".into(), "Insert_priv".into()],
            auth_plugins: Vec::new(),
            auth: AuthPlugin::NativePassword,
        };
        assert_eq!(
            s.db_all_privileges_predicate(),
            "`Select_priv` = 'Y' AND `Insert_priv` = 'Y'"
        );
    }
}
