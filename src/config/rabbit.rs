//! `[oslo_messaging_rabbit]`: the options of oslo.messaging 18.3.1's rabbit
//! driver that decide what the agent declares, how it consumes and how it
//! reconnects, read from Trove's files (the section, and the query of
//! `transport_url`, which overrides it as oslo's `ConfigOptsProxy` does) or
//! from the TOML table of the same name, with oslo's names, types, defaults
//! and ranges (impl_rabbit.py 59-275, amqp.py 32-41).
//!
//! Every option of the driver is known here and falls in one of three sets:
//! - honoured: they change the agent's declarations, consumer, heartbeat,
//!   host order or reconnect schedule ([`RabbitConfig`]);
//! - checked: they change only queues the agent never declares (the fanout
//!   and reply queues of an oslo server that takes fanout casts and makes
//!   calls) or client-side pools and retries, so the agent serves the same
//!   whatever they say; their values are still checked as oslo checks them,
//!   so a configuration oslo would refuse is refused here too;
//! - refused when set to what the agent cannot do (`kombu_compression`,
//!   `rabbit_login_method` other than PLAIN or AMQPLAIN), with the option's
//!   name.
//!
//! oslo raises at start for two combinations, and RabbitMQ refuses three
//! more at declare time; all five are refused at start here, naming both
//! options (see [`build`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::layers::Sourced;
use super::{ConfigError, ini};

/// The options read. Anything else in a transport URL's query is refused (oslo
/// refuses it too, `NoSuchOptError`); anything else in the section is ignored
/// (oslo.config ignores options nobody registered).
pub(super) const OPTIONS: &[&str] = &[
    "amqp_auto_delete",
    "amqp_durable_queues",
    "conn_pool_min_size",
    "conn_pool_ttl",
    "direct_mandatory_flag",
    "enable_cancel_on_failover",
    "heartbeat_rate",
    "heartbeat_timeout_threshold",
    "hostname",
    "kombu_compression",
    "kombu_failover_strategy",
    "kombu_missing_consumer_retry_timeout",
    "kombu_reconnect_delay",
    "kombu_reconnect_splay",
    "processname",
    "rabbit_ha_queues",
    "rabbit_interval_max",
    "rabbit_login_method",
    "rabbit_qos_prefetch_count",
    "rabbit_quorum_delivery_limit",
    "rabbit_quorum_max_memory_bytes",
    "rabbit_quorum_max_memory_length",
    "rabbit_quorum_queue",
    "rabbit_retry_backoff",
    "rabbit_retry_interval",
    "rabbit_stream_fanout",
    "rabbit_transient_queues_ttl",
    "rabbit_transient_quorum_queue",
    "rpc_conn_pool_size",
    "ssl",
    "ssl_ca_file",
    "ssl_cert_file",
    "ssl_enforce_fips_mode",
    "ssl_enforce_hostname_verification",
    "ssl_key_file",
    "ssl_version",
    "use_queue_manager",
];

/// The TLS options, which the TOML table leaves to `amqp.tls_*`.
pub(super) const TLS_OPTIONS: &[&str] = &[
    "ssl",
    "ssl_ca_file",
    "ssl_cert_file",
    "ssl_key_file",
    "ssl_version",
    "ssl_enforce_fips_mode",
    "ssl_enforce_hostname_verification",
];

/// The options as set, by name, each with where it was set.
pub(super) type RabbitLayer = BTreeMap<&'static str, Sourced<String>>;

/// How the next host of a multi-host URL is chosen (`kombu_failover_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Failover {
    /// The next one in the list, wrapping around (kombu's default).
    #[default]
    RoundRobin,
    /// A random one each time.
    Shuffle,
}

/// The honoured options, typed and checked; defaults are oslo's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RabbitConfig {
    /// `amqp_durable_queues`: durable exchange and queues.
    pub durable_queues: bool,
    /// `amqp_auto_delete`: auto-delete exchange and queues.
    pub auto_delete: bool,
    /// `rabbit_ha_queues`: `x-ha-policy: all` (ignored by RabbitMQ since 3.0).
    pub ha_queues: bool,
    /// `rabbit_quorum_queue`: the topic and server queues are quorum queues.
    pub quorum_queue: bool,
    /// `rabbit_quorum_delivery_limit` (`x-delivery-limit`, 0 = none).
    pub quorum_delivery_limit: u64,
    /// `rabbit_quorum_max_memory_length` (0 = none).
    pub quorum_max_memory_length: u64,
    /// `rabbit_quorum_max_memory_bytes` (0 = none).
    pub quorum_max_memory_bytes: u64,
    /// `rabbit_qos_prefetch_count` (0 = oslo's "unlimited").
    pub qos_prefetch_count: u16,
    /// `heartbeat_timeout_threshold` (0 = no AMQP heartbeat).
    pub heartbeat_timeout_threshold: u16,
    /// `rabbit_retry_interval`.
    pub retry_interval: Duration,
    /// `rabbit_retry_backoff`.
    pub retry_backoff: Duration,
    /// `rabbit_interval_max`.
    pub interval_max: Duration,
    /// `kombu_failover_strategy`.
    pub failover: Failover,
    /// `enable_cancel_on_failover`: consume with `x-cancel-on-ha-failover`.
    pub cancel_on_failover: bool,
}

impl Default for RabbitConfig {
    fn default() -> Self {
        RabbitConfig {
            durable_queues: false,
            auto_delete: false,
            ha_queues: false,
            quorum_queue: false,
            quorum_delivery_limit: 0,
            quorum_max_memory_length: 0,
            quorum_max_memory_bytes: 0,
            qos_prefetch_count: 0,
            heartbeat_timeout_threshold: 60,
            retry_interval: Duration::from_secs(1),
            retry_backoff: Duration::from_secs(2),
            interval_max: Duration::from_secs(30),
            failover: Failover::RoundRobin,
            cancel_on_failover: false,
        }
    }
}

impl RabbitConfig {
    /// The exchange and the agent's queues are durable (oslo's `durable`
    /// property, impl_rabbit.py 913-917: durable queues or quorum).
    pub fn durable(&self) -> bool {
        self.durable_queues || self.quorum_queue
    }
}

struct Reader<'a> {
    layer: &'a RabbitLayer,
}

impl Reader<'_> {
    fn invalid(&self, name: &str, reason: impl Into<String>) -> ConfigError {
        match self.layer.get(name) {
            Some(s) => s.invalid(reason),
            None => ConfigError::invalid(Path::new(""), name, reason),
        }
    }

    fn bool(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.layer.get(name) {
            None => Ok(default),
            Some(s) => ini::boolean(&s.value).ok_or_else(|| s.invalid("must be true or false")),
        }
    }

    fn int(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        match self.layer.get(name) {
            None => Ok(default),
            Some(s) => match s.value.trim().parse::<u64>() {
                Ok(v) if (min..=max).contains(&v) => Ok(v),
                _ => Err(s.invalid(format!("must be a whole number from {min} to {max}"))),
            },
        }
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.layer.get(name).map(|s| s.value.trim())
    }

    /// Names where an option was set, for messages about two of them.
    fn both(&self, a: &str, b: &str) -> String {
        format!("{a} together with {b}")
    }
}

/// Checks the options and gives the honoured ones their types.
pub(super) fn build(layer: &RabbitLayer) -> Result<RabbitConfig, ConfigError> {
    let r = Reader { layer };
    let secs = |name, default, min| -> Result<Duration, ConfigError> {
        r.int(name, default, min, 86_400).map(Duration::from_secs)
    };
    let failover = match r.text("kombu_failover_strategy") {
        None | Some("round-robin") => Failover::RoundRobin,
        Some("shuffle") => Failover::Shuffle,
        Some(_) => {
            return Err(r.invalid("kombu_failover_strategy", "must be round-robin or shuffle"));
        }
    };
    let cfg = RabbitConfig {
        durable_queues: r.bool("amqp_durable_queues", false)?,
        auto_delete: r.bool("amqp_auto_delete", false)?,
        ha_queues: r.bool("rabbit_ha_queues", false)?,
        quorum_queue: r.bool("rabbit_quorum_queue", false)?,
        quorum_delivery_limit: r.int("rabbit_quorum_delivery_limit", 0, 0, u64::from(u32::MAX))?,
        quorum_max_memory_length: r.int(
            "rabbit_quorum_max_memory_length",
            0,
            0,
            u64::from(u32::MAX),
        )?,
        quorum_max_memory_bytes: r.int("rabbit_quorum_max_memory_bytes", 0, 0, i64::MAX as u64)?,
        qos_prefetch_count: u16::try_from(r.int("rabbit_qos_prefetch_count", 0, 0, 65_535)?)
            .unwrap_or(u16::MAX),
        heartbeat_timeout_threshold: u16::try_from(r.int(
            "heartbeat_timeout_threshold",
            60,
            0,
            65_535,
        )?)
        .unwrap_or(u16::MAX),
        retry_interval: secs("rabbit_retry_interval", 1, 1)?,
        retry_backoff: secs("rabbit_retry_backoff", 2, 0)?,
        interval_max: secs("rabbit_interval_max", 30, 1)?,
        failover,
        cancel_on_failover: r.bool("enable_cancel_on_failover", false)?,
    };
    // Checked, not honoured: the fanout and reply queues' options, and
    // client-side ones; a value oslo refuses is refused.
    let transient_quorum = r.bool("rabbit_transient_quorum_queue", false)?;
    let stream_fanout = r.bool("rabbit_stream_fanout", false)?;
    r.bool("use_queue_manager", false)?;
    r.int("rabbit_transient_queues_ttl", 1800, 0, u64::from(u32::MAX))?;
    for flag in [
        "direct_mandatory_flag",
        "ssl_enforce_fips_mode",
        "ssl_enforce_hostname_verification",
    ] {
        r.bool(flag, true)?;
    }
    for (name, min) in [
        ("conn_pool_min_size", 0),
        ("conn_pool_ttl", 0),
        ("rpc_conn_pool_size", 1),
        ("kombu_missing_consumer_retry_timeout", 0),
        ("heartbeat_rate", 0),
    ] {
        r.int(name, min, min, u64::from(u32::MAX))?;
    }
    for name in ["kombu_reconnect_delay", "kombu_reconnect_splay"] {
        if let Some(v) = r.text(name)
            && !v.parse::<f64>().is_ok_and(|f| f.is_finite() && f >= 0.0)
        {
            return Err(r.invalid(name, "must be a number of seconds"));
        }
    }
    // Refused when set to what the agent cannot do.
    if r.text("kombu_compression").is_some_and(|v| !v.is_empty()) {
        return Err(r.invalid(
            "kombu_compression",
            "guestagent sends messages uncompressed; leave kombu_compression unset",
        ));
    }
    match r.text("rabbit_login_method") {
        None | Some("PLAIN" | "AMQPLAIN") => {}
        Some("EXTERNAL" | "RABBIT-CR-DEMO") => {
            return Err(r.invalid(
                "rabbit_login_method",
                "guestagent logs in with a user and password (PLAIN or AMQPLAIN)",
            ));
        }
        Some(_) => {
            return Err(r.invalid(
                "rabbit_login_method",
                "must be PLAIN, AMQPLAIN, EXTERNAL or RABBIT-CR-DEMO",
            ));
        }
    }
    // What oslo refuses at start (impl_rabbit.py 332-335, 739-748), and what
    // RabbitMQ refuses at declare or consume.
    let conflicts = [
        (
            cfg.quorum_queue && cfg.ha_queues,
            "rabbit_quorum_queue",
            "rabbit_ha_queues",
            "oslo.messaging refuses mirrored quorum queues",
        ),
        (
            cfg.quorum_queue && cfg.auto_delete,
            "rabbit_quorum_queue",
            "amqp_auto_delete",
            "RabbitMQ refuses auto-delete quorum queues",
        ),
        (
            cfg.quorum_queue && cfg.cancel_on_failover,
            "rabbit_quorum_queue",
            "enable_cancel_on_failover",
            "RabbitMQ refuses x-cancel-on-ha-failover on quorum queues",
        ),
        (
            stream_fanout && !transient_quorum,
            "rabbit_stream_fanout",
            "rabbit_transient_quorum_queue = false",
            "oslo.messaging needs transient quorum queues for stream fanout",
        ),
        (
            stream_fanout && cfg.qos_prefetch_count == 0,
            "rabbit_stream_fanout",
            "rabbit_qos_prefetch_count = 0",
            "oslo.messaging needs a prefetch count for stream fanout",
        ),
    ];
    if let Some((_, a, b, why)) = conflicts.into_iter().find(|c| c.0) {
        return Err(r.invalid(a, format!("{}: {why}", r.both(a, b))));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(pairs: &[(&'static str, &str)]) -> RabbitLayer {
        pairs
            .iter()
            .map(|(k, v)| (*k, Sourced::new((*v).to_owned(), Path::new("/t.conf"), *k)))
            .collect()
    }

    #[test]
    fn defaults_are_oslos() {
        let cfg = build(&RabbitLayer::new()).unwrap();
        assert_eq!(cfg, RabbitConfig::default());
        assert!(!cfg.durable());
        assert_eq!(cfg.heartbeat_timeout_threshold, 60);
        assert_eq!(cfg.retry_interval, Duration::from_secs(1));
    }

    #[test]
    fn kolla_2025_1_guest() {
        let cfg = build(&layer(&[
            ("use_queue_manager", "true"),
            ("rabbit_quorum_queue", "true"),
            ("rabbit_stream_fanout", "true"),
            ("rabbit_qos_prefetch_count", "1"),
            ("rabbit_transient_quorum_queue", "true"),
        ]))
        .unwrap();
        assert!(cfg.quorum_queue && cfg.durable());
        assert_eq!(cfg.qos_prefetch_count, 1);
    }

    #[test]
    fn what_oslo_or_rabbitmq_refuses_is_refused_by_name() {
        for (pairs, words) in [
            (
                vec![
                    ("rabbit_quorum_queue", "true"),
                    ("rabbit_ha_queues", "true"),
                ],
                "rabbit_ha_queues",
            ),
            (
                vec![("rabbit_quorum_queue", "true"), ("amqp_auto_delete", "yes")],
                "auto-delete quorum",
            ),
            (
                vec![
                    ("rabbit_stream_fanout", "true"),
                    ("rabbit_qos_prefetch_count", "5"),
                ],
                "transient quorum",
            ),
            (
                vec![
                    ("rabbit_stream_fanout", "true"),
                    ("rabbit_transient_quorum_queue", "true"),
                ],
                "prefetch",
            ),
            (vec![("kombu_compression", "gzip")], "uncompressed"),
            (vec![("rabbit_login_method", "EXTERNAL")], "password"),
            (vec![("rabbit_retry_interval", "0")], "from 1"),
            (vec![("kombu_failover_strategy", "random")], "round-robin"),
            (vec![("rabbit_quorum_queue", "maybe")], "true or false"),
        ] {
            let e = build(&layer(&pairs)).unwrap_err().to_string();
            assert!(e.contains(words), "{pairs:?}: {e}");
            assert!(
                e.contains(pairs[0].0) || e.contains(pairs[pairs.len() - 1].0),
                "{e}"
            );
        }
    }
}
