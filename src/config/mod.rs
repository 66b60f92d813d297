//! Configuration: files → layers → one validated [`Config`].
//!
//! Two sources, both ending in the same checks:
//! - [`Config::load`]: one guestagent TOML file (example: `config/guestagent.toml`);
//! - [`Config::load_trove`]: Trove's own `guest_info.conf` and
//!   `trove-guestagent.conf`, optionally overlaid by a guestagent TOML, so that an
//!   existing Trove guest image can switch agents without new config.
//!
//! Files are read into `Layers` (each value remembers the file and key it came
//! from, so every error names both); later layers override earlier ones; then
//! `Layers::build` checks every value and fills in the `DEFAULT_*` values.
//!
//! Secrets (the AMQP password, the RPC encryption key, the MySQL password) are
//! [`SecretString`]s from the moment they are read: [`Config`]'s `Debug`, every
//! [`ConfigError`] and [`Config::render_redacted`] show them as `<redacted>`. A file
//! holding a secret must not be world-readable ([`ConfigError::InsecurePermissions`]).

mod error;
mod files;
mod ini;
mod layers;
mod rabbit;
mod raw;
mod render;
#[cfg(test)]
mod tests;
mod transport;
mod trove;
mod url;

pub use error::ConfigError;
pub use rabbit::{Failover, RabbitConfig};

use layers::{Layers, Sourced};

use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where Trove injects `guest_info.conf` and `trove-guestagent.conf`
/// (Trove's `injected_config_location`).
pub const DEFAULT_TROVE_CONFIG_DIR: &str = "/etc/trove/conf.d";
/// `amqp.url`.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// `amqp.exchange` (Trove's `control_exchange`) for a TOML config.
pub const DEFAULT_EXCHANGE: &str = "trove";
/// `control_exchange` when Trove's files do not set it: oslo.messaging's default,
/// which is what Trove's own guest agent then uses.
pub const DEFAULT_TROVE_CONTROL_EXCHANGE: &str = "openstack";
/// `amqp.conductor_topic` (Trove's `conductor_queue`).
pub const DEFAULT_CONDUCTOR_TOPIC: &str = "trove-conductor";
/// `amqp.report_interval`, the heartbeat period (Trove's `report_interval`).
pub const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(30);
/// `amqp.prefetch`: unacknowledged deliveries the broker may send ahead.
pub const DEFAULT_PREFETCH: u16 = 16;
/// `mysql.socket` when none is set and no candidate exists yet.
pub const DEFAULT_MYSQL_SOCKET: &str = "/run/mysqld/mysqld.sock";
/// Where Trove's guest images put mysqld's socket (the host side of the
/// database container's `/var/run/mysqld`, Trove's `MYSQL_HOST_SOCKET_PATH`).
pub const TROVE_MYSQL_SOCKET: &str = "/var/lib/mysqld/mysqld.sock";
/// `mysql.mount_point`: the filesystem `get_filesystem_stats` reports
/// (Trove's `[mysql] mount_point`).
pub const DEFAULT_MOUNT_POINT: &str = "/var/lib/mysql";
/// `trove.prepare_marker_dir`: where Trove's own agent keeps its
/// `.guestagent.prepare.start` / `.end` markers (`BaseDbStatus.GUESTAGENT_DIR`).
pub const DEFAULT_PREPARE_MARKER_DIR: &str = "/opt/trove-guestagent";
/// `mysql.user`: the admin account the agent uses.
pub const DEFAULT_MYSQL_USER: &str = "root";
/// `state.dir`: the action journal lives here.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/guestagent";
/// `state.dedup_window`, seconds: a day.
pub const DEFAULT_DEDUP_WINDOW_SECS: u64 = 86_400;
/// `log.level`.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// `limits.max_message_bytes`: larger AMQP messages are refused unread.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// `limits.max_items`: most users or databases in one command.
pub const DEFAULT_MAX_ITEMS: usize = 100;
/// The most message bytes the broker may hand over at once
/// (`amqp.prefetch` × `limits.max_message_bytes`). lapin buffers a whole
/// message before the agent can look at its size, so this is what a flood
/// of oversized messages can cost; the unit's `MemoryMax=` leaves room for
/// it (see `systemd/guestagent.service`).
pub const MAX_IN_FLIGHT_BYTES: usize = 64 * 1024 * 1024;
/// The accepted `log.level` values.
pub const LOG_LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];
/// How every secret is shown.
pub const REDACTED: &str = "<redacted>";

/// The validated configuration. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Trove instance id; the agent's queues are named after it.
    pub guest_id: String,
    /// Broker connection and Trove's RPC settings.
    pub amqp: AmqpConfig,
    /// The local mysqld.
    pub mysql: MysqlConfig,
    /// Durable state.
    pub state: StateConfig,
    /// Logging.
    pub log: LogConfig,
    /// Size and count limits on commands.
    pub limits: LimitsConfig,
    /// The Trove instance's life: prepare and its markers.
    pub trove: TroveConfig,
}

/// `[trove]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TroveConfig {
    /// Until Trove's `prepare` has run once (its end marker exists), send no
    /// heartbeat (then `building` while it runs), as Trove's own agent does.
    /// On by default when the agent reads Trove's files.
    pub await_prepare: bool,
    /// Where the prepare markers live.
    pub prepare_marker_dir: PathBuf,
    /// The instance's TLS mode as Trove injected it (`ssl_mode`), until
    /// `ssl_action` sets one.
    pub ssl_mode: Option<crate::model::TlsMode>,
}

impl Default for TroveConfig {
    fn default() -> Self {
        TroveConfig {
            await_prepare: false,
            prepare_marker_dir: PathBuf::from(DEFAULT_PREPARE_MARKER_DIR),
            ssl_mode: None,
        }
    }
}

/// `[amqp]`.
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://` or `amqps://` URL, checked; may hold the broker password.
    pub url: SecretString,
    /// The topic exchange (Trove's `control_exchange`).
    pub exchange: String,
    /// The conductor's topic (Trove's `conductor_queue`).
    pub conductor_topic: String,
    /// Trove's `instance_rpc_encr_key`; `None` when unset or empty.
    pub rpc_encryption_key: Option<SecretString>,
    /// Accept unencrypted messages although a key is set (migrations only).
    pub allow_plaintext: bool,
    /// Heartbeat period.
    pub report_interval: Duration,
    /// AMQP prefetch count, at least 1.
    pub prefetch: u16,
    /// Serve `enable_root` / `enable_root_with_password` (Trove does).
    pub allow_root_enable: bool,
    /// TLS settings, used when the URL is `amqps://`.
    pub tls: TlsConfig,
    /// Every host of `url`, in the order written.
    pub brokers: Vec<Broker>,
    /// `[oslo_messaging_rabbit]`: declarations, heartbeat, failover, back-off.
    pub rabbit: RabbitConfig,
}

/// One host of the broker URL.
#[derive(Clone)]
pub struct Broker {
    /// A single-host `amqp(s)://` URL, as lapin takes it; may hold a password.
    pub url: SecretString,
    /// `host:port`, for logs.
    pub endpoint: String,
    /// Whether the URL is `amqps://`, for logs: the endpoint alone does not
    /// say whether the connection is meant to be encrypted.
    pub tls: bool,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.endpoint)
    }
}

/// `amqp.tls_*`: whom to trust and who the agent is, for `amqps://`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM bundle of the CAs that may sign the broker's certificate; `None`
    /// trusts the system's bundle.
    pub ca_file: Option<PathBuf>,
    /// The agent's client certificate (PEM), with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM, PKCS#8); a secret, so the
    /// file must not be world-readable.
    pub key_file: Option<PathBuf>,
}

/// `[mysql]`.
#[derive(Debug, Clone)]
pub struct MysqlConfig {
    /// mysqld's unix socket.
    pub socket: PathBuf,
    /// The admin account.
    pub user: String,
    /// Read from `password_file`; `None` (socket auth) when that is empty.
    pub password: Option<SecretString>,
    /// Extra protected account names, added to the built-in list elsewhere.
    pub ignore_users: Vec<String>,
    /// Extra protected database names, added to the built-in list elsewhere.
    pub ignore_dbs: Vec<String>,
    /// The filesystem holding mysqld's data, for `get_filesystem_stats`.
    pub mount_point: PathBuf,
    /// What `enable_root` grants on `*.*` (Trove's `root_grant`).
    pub root_grant: Vec<crate::model::Privilege>,
    /// Whether `enable_root` grants `WITH GRANT OPTION` (Trove's
    /// `root_grant_option`).
    pub root_grant_option: bool,
    /// The authentication plugin of new accounts; `None` (`auto`): the
    /// server's default.
    pub auth_plugin: Option<crate::model::AuthPlugin>,
}

/// `[state]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    /// Directory of the action journal.
    pub dir: PathBuf,
    /// How long a message's `_unique_id` is remembered, so a redelivered or
    /// resent command is answered from the journal instead of applied again.
    pub dedup_window: Duration,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// One of [`LOG_LEVELS`], lowercase.
    pub level: String,
}

/// `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Largest AMQP message body accepted.
    pub max_message_bytes: usize,
    /// Most users or databases in one command.
    pub max_items: usize,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            url: SecretString::from(DEFAULT_AMQP_URL),
            exchange: DEFAULT_EXCHANGE.to_owned(),
            conductor_topic: DEFAULT_CONDUCTOR_TOPIC.to_owned(),
            rpc_encryption_key: None,
            allow_plaintext: false,
            report_interval: DEFAULT_REPORT_INTERVAL,
            prefetch: DEFAULT_PREFETCH,
            allow_root_enable: true,
            tls: TlsConfig::default(),
            brokers: vec![Broker {
                url: SecretString::from(DEFAULT_AMQP_URL),
                endpoint: "127.0.0.1:5672".into(),
                tls: false,
            }],
            rabbit: RabbitConfig::default(),
        }
    }
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &url::redact(self.url.expose_secret()))
            .field("exchange", &self.exchange)
            .field("conductor_topic", &self.conductor_topic)
            .field(
                "rpc_encryption_key",
                &self.rpc_encryption_key.as_ref().map(|_| REDACTED),
            )
            .field("allow_plaintext", &self.allow_plaintext)
            .field("report_interval", &self.report_interval)
            .field("prefetch", &self.prefetch)
            .field("allow_root_enable", &self.allow_root_enable)
            .field("tls", &self.tls)
            .field("brokers", &self.brokers)
            .field("rabbit", &self.rabbit)
            .finish()
    }
}

impl Default for MysqlConfig {
    fn default() -> Self {
        MysqlConfig {
            socket: PathBuf::from(DEFAULT_MYSQL_SOCKET),
            user: DEFAULT_MYSQL_USER.to_owned(),
            password: None,
            ignore_users: Vec::new(),
            ignore_dbs: Vec::new(),
            mount_point: PathBuf::from(DEFAULT_MOUNT_POINT),
            root_grant: crate::model::Privilege::parse("ALL").into_iter().collect(),
            root_grant_option: true,
            auth_plugin: None,
        }
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from(DEFAULT_STATE_DIR),
            dedup_window: Duration::from_secs(DEFAULT_DEDUP_WINDOW_SECS),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: DEFAULT_LOG_LEVEL.to_owned(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_items: DEFAULT_MAX_ITEMS,
        }
    }
}

impl Config {
    /// Loads and validates one TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut layers = Layers::default();
        raw::read_toml(path, &mut layers)?;
        layers.build(path, "guest_id")
    }

    /// Builds a config from Trove's own files (a directory holding
    /// guest_info.conf and trove-guestagent.conf, or the file paths), optionally
    /// overlaid by a guestagent TOML.
    ///
    /// A directory is read like oslo.config's `--config-dir`: every `*.conf` in
    /// name order. Later files override earlier ones; the overlay overrides them
    /// all. An empty `trove_paths` means [`DEFAULT_TROVE_CONFIG_DIR`].
    pub fn load_trove(
        trove_paths: &[PathBuf],
        overlay: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let default_dir = [PathBuf::from(DEFAULT_TROVE_CONFIG_DIR)];
        let trove_paths = match trove_paths {
            [] => &default_dir[..],
            paths => paths,
        };
        // Named when no file sets the guest id.
        let origin = trove_paths.first().map_or(Path::new(""), PathBuf::as_path);
        let mut layers = Layers::default();
        trove::read(trove_paths, origin, &mut layers)?;
        layers.from_trove = true;
        if let Some(overlay) = overlay {
            raw::read_toml(overlay, &mut layers)?;
        }
        layers.build(origin, "[DEFAULT] guest_id")
    }

    /// The effective configuration as TOML, every secret shown as `"<redacted>"`
    /// (URL password redacted too, the rest of the URL kept).
    pub fn render_redacted(&self) -> String {
        render::render(self)
    }

    /// The AMQP URL with its password redacted, for logs.
    pub fn amqp_url_redacted(&self) -> String {
        url::redact(self.amqp.url.expose_secret())
    }
}
