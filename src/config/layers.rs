//! [`Layers`]: every setting as last set by some file, and [`Layers::build`], which
//! checks each value (naming its file and key on error) and fills in defaults.

use super::{
    AmqpConfig, Config, ConfigError, DEFAULT_AMQP_URL, DEFAULT_CONDUCTOR_TOPIC,
    DEFAULT_DEDUP_WINDOW_SECS, DEFAULT_EXCHANGE, DEFAULT_LOG_LEVEL, DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MYSQL_SOCKET, DEFAULT_MYSQL_USER, DEFAULT_PREFETCH,
    DEFAULT_REPORT_INTERVAL, DEFAULT_STATE_DIR, LOG_LEVELS, LimitsConfig, LogConfig, MysqlConfig,
    StateConfig, files, url,
};
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One value and where it came from.
pub(super) struct Sourced<T> {
    pub value: T,
    pub path: PathBuf,
    pub key: String,
}

impl<T> Sourced<T> {
    pub(super) fn new(value: T, path: &Path, key: impl Into<String>) -> Self {
        Sourced {
            value,
            path: path.to_owned(),
            key: key.into(),
        }
    }

    pub(super) fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::invalid(&self.path, &self.key, reason)
    }
}

/// Every setting as last set by some file, not yet checked.
#[derive(Default)]
pub(super) struct Layers {
    pub(super) guest_id: Option<Sourced<String>>,
    pub(super) url: Option<Sourced<SecretString>>,
    pub(super) exchange: Option<Sourced<String>>,
    pub(super) conductor_topic: Option<Sourced<String>>,
    pub(super) rpc_encryption_key: Option<Sourced<SecretString>>,
    pub(super) allow_plaintext: Option<Sourced<bool>>,
    pub(super) report_interval: Option<Sourced<i64>>,
    pub(super) prefetch: Option<Sourced<i64>>,
    pub(super) socket: Option<Sourced<String>>,
    pub(super) user: Option<Sourced<String>>,
    pub(super) password_file: Option<Sourced<String>>,
    pub(super) ignore_users: Option<Sourced<Vec<String>>>,
    pub(super) ignore_dbs: Option<Sourced<Vec<String>>>,
    pub(super) state_dir: Option<Sourced<String>>,
    pub(super) dedup_window: Option<Sourced<i64>>,
    pub(super) log_level: Option<Sourced<String>>,
    pub(super) max_message_bytes: Option<Sourced<i64>>,
    pub(super) max_items: Option<Sourced<i64>>,
}

impl Layers {
    /// Checks every value and fills in defaults. `origin` and `guest_id_key` are
    /// named when no file sets the guest id.
    pub(super) fn build(self, origin: &Path, guest_id_key: &str) -> Result<Config, ConfigError> {
        let guest_id = self.guest_id.ok_or_else(|| ConfigError::Missing {
            path: origin.to_owned(),
            key: guest_id_key.to_owned(),
        })?;
        let guest_id = name(guest_id, 64, "letters, digits, '_', '.' and '-'", |c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
        })?;
        let amqp_name = |s| {
            name(s, 255, "letters, digits, '_', '.', ':' and '-'", |c| {
                c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
            })
        };
        let url = match self.url {
            Some(url) => {
                url::parse(url.value.expose_secret()).map_err(|reason| url.invalid(reason))?;
                url.value
            }
            None => SecretString::from(DEFAULT_AMQP_URL),
        };
        let amqp = AmqpConfig {
            url,
            exchange: opt(self.exchange, DEFAULT_EXCHANGE, amqp_name)?,
            conductor_topic: opt(self.conductor_topic, DEFAULT_CONDUCTOR_TOPIC, amqp_name)?,
            rpc_encryption_key: self
                .rpc_encryption_key
                .map(|k| k.value)
                .filter(|k| !k.expose_secret().is_empty()),
            allow_plaintext: self.allow_plaintext.is_some_and(|b| b.value),
            report_interval: Duration::from_secs(int(
                self.report_interval,
                DEFAULT_REPORT_INTERVAL.as_secs(),
                1,
                86_400,
                "seconds",
            )?),
            prefetch: int(self.prefetch, DEFAULT_PREFETCH, 1, 65_535, "messages")?,
        };
        let password = match self.password_file {
            Some(file) if !file.value.is_empty() => {
                let path = absolute(file)?;
                Some(files::read_password(&path, "mysql.password_file")?)
            }
            _ => None,
        };
        let mysql = MysqlConfig {
            socket: absolute_or(self.socket, DEFAULT_MYSQL_SOCKET)?,
            user: opt(self.user, DEFAULT_MYSQL_USER, |s| {
                name(s, 80, "printable characters", |c| !c.is_control())
            })?,
            password,
            ignore_users: names(self.ignore_users, 80)?,
            ignore_dbs: names(self.ignore_dbs, 64)?,
        };
        let level = opt(self.log_level, DEFAULT_LOG_LEVEL, |s| {
            let level = s.value.to_ascii_lowercase();
            if LOG_LEVELS.contains(&level.as_str()) {
                Ok(level)
            } else {
                Err(s.invalid(format!("must be one of {}", LOG_LEVELS.join(", "))))
            }
        })?;
        let limits = LimitsConfig {
            max_message_bytes: int(
                self.max_message_bytes,
                DEFAULT_MAX_MESSAGE_BYTES,
                1024,
                128 * 1024 * 1024,
                "bytes",
            )?,
            max_items: int(self.max_items, DEFAULT_MAX_ITEMS, 1, 10_000, "items")?,
        };
        Ok(Config {
            guest_id,
            amqp,
            mysql,
            state: StateConfig {
                dir: absolute_or(self.state_dir, DEFAULT_STATE_DIR)?,
                dedup_window: Duration::from_secs(int(
                    self.dedup_window,
                    DEFAULT_DEDUP_WINDOW_SECS,
                    60,
                    30 * 86_400,
                    "seconds",
                )?),
            },
            log: LogConfig { level },
            limits,
        })
    }
}

/// The checked value, or `default` when unset.
fn opt(
    value: Option<Sourced<String>>,
    default: &str,
    check: impl Fn(Sourced<String>) -> Result<String, ConfigError>,
) -> Result<String, ConfigError> {
    value.map_or_else(|| Ok(default.to_owned()), check)
}

/// A non-empty name of at most `max` characters, each allowed by `ok`.
fn name(
    s: Sourced<String>,
    max: usize,
    allowed: &str,
    ok: impl Fn(char) -> bool,
) -> Result<String, ConfigError> {
    let count = s.value.chars().count();
    if count == 0 || count > max {
        return Err(s.invalid(format!("must be 1 to {max} characters long")));
    }
    if !s.value.chars().all(ok) {
        return Err(s.invalid(format!("may only hold {allowed}")));
    }
    Ok(s.value)
}

fn names(list: Option<Sourced<Vec<String>>>, max: usize) -> Result<Vec<String>, ConfigError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    for (i, item) in list.value.iter().enumerate() {
        let count = item.chars().count();
        if count == 0 || count > max || item.chars().any(char::is_control) {
            return Err(list.invalid(format!(
                "item {} must be 1 to {max} printable characters long",
                i + 1
            )));
        }
    }
    Ok(list.value)
}

/// An integer in `min..=max`, or `default` when unset.
fn int<T: TryFrom<i64>>(
    value: Option<Sourced<i64>>,
    default: T,
    min: i64,
    max: i64,
    unit: &str,
) -> Result<T, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let reason = || format!("must be from {min} to {max} {unit}");
    if !(min..=max).contains(&value.value) {
        return Err(value.invalid(reason()));
    }
    T::try_from(value.value).map_err(|_| value.invalid(reason()))
}

fn absolute(value: Sourced<String>) -> Result<PathBuf, ConfigError> {
    if !value.value.starts_with('/') || value.value.contains('\0') {
        return Err(value.invalid("must be an absolute path"));
    }
    Ok(PathBuf::from(value.value))
}

fn absolute_or(value: Option<Sourced<String>>, default: &str) -> Result<PathBuf, ConfigError> {
    value.map_or_else(|| Ok(PathBuf::from(default)), absolute)
}
