//! [`Layers`]: every setting as last set by some file, and [`Layers::build`], which
//! checks each value (naming its file and key on error) and fills in defaults.

use super::{
    AmqpConfig, Broker, Config, ConfigError, DEFAULT_AMQP_URL, DEFAULT_CONDUCTOR_TOPIC,
    DEFAULT_DEDUP_WINDOW_SECS, DEFAULT_EXCHANGE, DEFAULT_LOG_LEVEL, DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MOUNT_POINT, DEFAULT_MYSQL_SOCKET, DEFAULT_MYSQL_USER,
    DEFAULT_PREFETCH, DEFAULT_PREPARE_MARKER_DIR, DEFAULT_REPORT_INTERVAL, DEFAULT_STATE_DIR,
    LOG_LEVELS, LimitsConfig, LogConfig, MAX_IN_FLIGHT_BYTES, MysqlConfig, StateConfig,
    TROVE_MYSQL_SOCKET, TlsConfig, TroveConfig, files, rabbit, url,
};
use crate::model::{AuthPlugin, Privilege, TlsMode};
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
    pub(super) allow_root_enable: Option<Sourced<bool>>,
    pub(super) tls_ca_file: Option<Sourced<String>>,
    pub(super) tls_cert_file: Option<Sourced<String>>,
    pub(super) tls_key_file: Option<Sourced<String>>,
    pub(super) rabbit: rabbit::RabbitLayer,
    pub(super) socket: Option<Sourced<String>>,
    pub(super) user: Option<Sourced<String>>,
    pub(super) password_file: Option<Sourced<String>>,
    pub(super) ignore_users: Option<Sourced<Vec<String>>>,
    pub(super) ignore_dbs: Option<Sourced<Vec<String>>>,
    pub(super) mount_point: Option<Sourced<String>>,
    pub(super) root_grant: Option<Sourced<Vec<String>>>,
    pub(super) root_grant_option: Option<Sourced<bool>>,
    pub(super) auth_plugin: Option<Sourced<String>>,
    pub(super) await_prepare: Option<Sourced<bool>>,
    pub(super) prepare_marker_dir: Option<Sourced<String>>,
    pub(super) ssl_mode: Option<Sourced<String>>,
    /// The base layer came from Trove's files (`--trove-config`).
    pub(super) from_trove: bool,
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
        let brokers = brokers(&url);
        let rabbit = rabbit::build(&self.rabbit)?;
        // Named if the two together ask for too much memory.
        let budget_file = [&self.prefetch, &self.max_message_bytes]
            .into_iter()
            .flatten()
            .next()
            .map_or_else(|| origin.to_owned(), |s| s.path.clone());
        let tls = tls(
            self.tls_ca_file,
            self.tls_cert_file,
            self.tls_key_file,
            url.expose_secret().starts_with("amqps://"),
        )?;
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
            // oslo's prefetch count, when the TOML gives none; oslo's 0
            // ("unlimited") keeps the agent's bound.
            prefetch: match (&self.prefetch, rabbit.qos_prefetch_count) {
                (None, n) if n > 0 => n,
                _ => int(self.prefetch, DEFAULT_PREFETCH, 1, 65_535, "messages")?,
            },
            allow_root_enable: self.allow_root_enable.is_none_or(|b| b.value),
            tls,
            brokers,
            rabbit,
        };
        let password = match self.password_file {
            Some(file) if !file.value.is_empty() => {
                let path = absolute(file)?;
                Some(files::read_password(&path, "mysql.password_file")?)
            }
            _ => None,
        };
        let socket = match self.socket {
            Some(s) => absolute(s)?,
            None => default_socket(self.from_trove),
        };
        let root_grant = match self.root_grant {
            None => vec![
                Privilege::parse("ALL")
                    .map_err(|r| ConfigError::invalid(origin, "root_grant", r))?,
            ],
            Some(list) => {
                let parsed = list
                    .value
                    .iter()
                    .map(|p| Privilege::parse(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|r| list.invalid(r))?;
                if parsed.is_empty() {
                    return Err(list.invalid("must name at least one privilege"));
                }
                parsed
            }
        };
        let mysql = MysqlConfig {
            socket,
            user: opt(self.user, DEFAULT_MYSQL_USER, |s| {
                name(s, 80, "printable characters", |c| !c.is_control())
            })?,
            password,
            ignore_users: names(self.ignore_users, 80)?,
            ignore_dbs: names(self.ignore_dbs, 64)?,
            mount_point: absolute_or(self.mount_point, DEFAULT_MOUNT_POINT)?,
            root_grant,
            root_grant_option: self.root_grant_option.is_none_or(|b| b.value),
            auth_plugin: match self.auth_plugin {
                None => None,
                Some(p) if p.value == "auto" => None,
                Some(p) => Some(AuthPlugin::parse(&p.value).ok_or_else(|| {
                    p.invalid(
                        "must be auto, mysql_native_password, caching_sha2_password or ed25519",
                    )
                })?),
            },
        };
        let trove = TroveConfig {
            await_prepare: self.await_prepare.map_or(self.from_trove, |b| b.value),
            prepare_marker_dir: absolute_or(self.prepare_marker_dir, DEFAULT_PREPARE_MARKER_DIR)?,
            ssl_mode: match self.ssl_mode {
                None => None,
                // Trove writes Python's None when the instance has no TLS.
                Some(m) if m.value.is_empty() || m.value == "None" || m.value == "none" => None,
                Some(m) => Some(
                    TlsMode::parse(&m.value)
                        .ok_or_else(|| m.invalid("must be basic, enforced, mtls or None"))?,
                ),
            },
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
        let in_flight = usize::from(amqp.prefetch).saturating_mul(limits.max_message_bytes);
        if in_flight > MAX_IN_FLIGHT_BYTES {
            return Err(ConfigError::invalid(
                budget_file,
                "amqp.prefetch × limits.max_message_bytes",
                format!(
                    "{in_flight} bytes may be in flight at once, more than {MAX_IN_FLIGHT_BYTES} \
                     (the agent's memory limit leaves room for that much): lower one of them"
                ),
            ));
        }
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
            trove,
        })
    }
}

/// mysqld's socket when none is configured: the first that exists of the
/// standard one and the one Trove's images use, preferring Trove's when the
/// agent runs on Trove's files; when neither exists yet (mysqld still
/// starting), the preferred one.
fn default_socket(from_trove: bool) -> PathBuf {
    let mut candidates = [DEFAULT_MYSQL_SOCKET, TROVE_MYSQL_SOCKET];
    if from_trove {
        candidates.reverse();
    }
    let found = candidates.iter().find(|c| Path::new(c).exists());
    PathBuf::from(found.unwrap_or(&candidates[0]))
}

/// One entry per host of a checked URL, in the order written.
fn brokers(url: &SecretString) -> Vec<Broker> {
    match url::parse(url.expose_secret()) {
        Ok(parsed) => parsed
            .single_host_urls()
            .into_iter()
            .map(|u| Broker {
                endpoint: url::endpoint(&u),
                tls: u.starts_with("amqps://"),
                url: SecretString::from(u),
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The TLS files: absolute paths, a client certificate only with its key,
/// and only for an `amqps://` URL (set for a plain one, they would be
/// silently unused).
fn tls(
    ca: Option<Sourced<String>>,
    cert: Option<Sourced<String>>,
    key: Option<Sourced<String>>,
    amqps: bool,
) -> Result<TlsConfig, ConfigError> {
    let set: Vec<&Sourced<String>> = [&ca, &cert, &key].into_iter().flatten().collect();
    if let Some(first) = set.iter().find(|s| !s.value.is_empty())
        && !amqps
    {
        return Err(first.invalid(
            "is set but the broker URL is not amqps:// (TLS is off): use amqps:// or remove it",
        ));
    }
    let path = |s: Option<Sourced<String>>| -> Result<Option<PathBuf>, ConfigError> {
        match s {
            Some(s) if !s.value.is_empty() => absolute(s).map(Some),
            _ => Ok(None),
        }
    };
    let (cert_key, key_key) = (
        cert.as_ref().map(|c| (c.path.clone(), c.key.clone())),
        key.as_ref().map(|k| (k.path.clone(), k.key.clone())),
    );
    let config = TlsConfig {
        ca_file: path(ca)?,
        cert_file: path(cert)?,
        key_file: path(key)?,
    };
    match (&config.cert_file, &config.key_file) {
        (Some(_), None) => {
            let (p, k) = cert_key.unwrap_or_default();
            return Err(ConfigError::invalid(
                p,
                k,
                "needs the key file too (tls_key_file / ssl_key_file)",
            ));
        }
        (None, Some(_)) => {
            let (p, k) = key_key.unwrap_or_default();
            return Err(ConfigError::invalid(
                p,
                k,
                "needs the certificate too (tls_cert_file / ssl_cert_file)",
            ));
        }
        (Some(_), Some(key_file)) => {
            files::check_private_file(key_file)?;
        }
        (None, None) => {}
    }
    Ok(config)
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
