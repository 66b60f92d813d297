//! The effective configuration as TOML, secrets redacted.
//!
//! Without secrets the output loads back into the same [`Config`]; with them, the
//! URL's password and `rpc_encryption_key` read `<redacted>` and the MySQL password
//! (whose file name is not kept) becomes a comment.

use super::{Config, Failover, REDACTED, url};
use secrecy::ExposeSecret;
use std::path::Path;

pub(super) fn render(cfg: &Config) -> String {
    let mut out = Out(String::new());
    out.kv("guest_id", s(&cfg.guest_id));

    let a = &cfg.amqp;
    out.table("amqp");
    out.kv("url", s(&url::redact(a.url.expose_secret())));
    out.kv("exchange", s(&a.exchange));
    out.kv("conductor_topic", s(&a.conductor_topic));
    if a.rpc_encryption_key.is_some() {
        out.kv("rpc_encryption_key", s(REDACTED));
    }
    out.kv("allow_plaintext", toml::Value::Boolean(a.allow_plaintext));
    out.kv("report_interval", int(a.report_interval.as_secs()));
    out.kv("prefetch", int(a.prefetch));
    out.kv(
        "allow_root_enable",
        toml::Value::Boolean(a.allow_root_enable),
    );
    let amqps = a.url.expose_secret().starts_with("amqps://");
    match (&a.tls.ca_file, amqps) {
        (Some(ca), _) => out.kv("tls_ca_file", path(ca)),
        (None, true) => out.line(
            "# tls_ca_file unset: the broker's certificate must chain to the system's CA bundle",
        ),
        (None, false) => out.line(
            "# TLS off (amqp:// URL); amqps:// verifies the broker's certificate and host name",
        ),
    }
    if let (Some(cert), Some(key)) = (&a.tls.cert_file, &a.tls.key_file) {
        out.kv("tls_cert_file", path(cert));
        out.kv("tls_key_file", path(key));
    }

    let r = &a.rabbit;
    out.table("oslo_messaging_rabbit");
    let b = toml::Value::Boolean;
    out.kv("amqp_durable_queues", b(r.durable_queues));
    out.kv("amqp_auto_delete", b(r.auto_delete));
    out.kv("rabbit_ha_queues", b(r.ha_queues));
    out.kv("rabbit_quorum_queue", b(r.quorum_queue));
    out.kv("rabbit_quorum_delivery_limit", int(r.quorum_delivery_limit));
    out.kv(
        "rabbit_quorum_max_memory_length",
        int(r.quorum_max_memory_length),
    );
    out.kv(
        "rabbit_quorum_max_memory_bytes",
        int(r.quorum_max_memory_bytes),
    );
    out.kv("rabbit_qos_prefetch_count", int(r.qos_prefetch_count));
    out.kv(
        "heartbeat_timeout_threshold",
        int(r.heartbeat_timeout_threshold),
    );
    out.kv("rabbit_retry_interval", int(r.retry_interval.as_secs()));
    out.kv("rabbit_retry_backoff", int(r.retry_backoff.as_secs()));
    out.kv("rabbit_interval_max", int(r.interval_max.as_secs()));
    let failover = match r.failover {
        Failover::RoundRobin => "round-robin",
        Failover::Shuffle => "shuffle",
    };
    out.kv("kombu_failover_strategy", s(failover));
    out.kv("enable_cancel_on_failover", b(r.cancel_on_failover));

    let m = &cfg.mysql;
    out.table("mysql");
    out.kv("socket", path(&m.socket));
    out.kv("user", s(&m.user));
    match m.password {
        None => out.kv("password_file", s("")),
        Some(_) => out.line(&format!("# password: {REDACTED} (read from password_file)")),
    }
    out.kv("ignore_users", list(&m.ignore_users));
    out.kv("ignore_dbs", list(&m.ignore_dbs));
    out.kv("mount_point", path(&m.mount_point));
    let grants: Vec<String> = m.root_grant.iter().map(|p| p.as_str().to_owned()).collect();
    out.kv("root_grant", list(&grants));
    out.kv(
        "root_grant_option",
        toml::Value::Boolean(m.root_grant_option),
    );
    out.kv("auth_plugin", s(m.auth_plugin.map_or("auto", |p| p.name())));

    out.table("state");
    out.kv("dir", path(&cfg.state.dir));
    out.kv("dedup_window", int(cfg.state.dedup_window.as_secs()));
    out.table("log");
    out.kv("level", s(&cfg.log.level));
    out.table("limits");
    out.kv("max_message_bytes", int(cfg.limits.max_message_bytes));
    out.kv("max_items", int(cfg.limits.max_items));
    out.table("trove");
    out.kv(
        "await_prepare",
        toml::Value::Boolean(cfg.trove.await_prepare),
    );
    out.kv("prepare_marker_dir", path(&cfg.trove.prepare_marker_dir));
    out.kv(
        "ssl_mode",
        s(cfg.trove.ssl_mode.map_or("None", |m| m.name())),
    );
    out.0
}

struct Out(String);

impl Out {
    fn line(&mut self, line: &str) {
        self.0.push_str(line);
        self.0.push('\n');
    }

    fn kv(&mut self, key: &str, value: toml::Value) {
        self.line(&format!("{key} = {value}"));
    }

    fn table(&mut self, name: &str) {
        self.line(&format!("\n[{name}]"));
    }
}

fn s(value: &str) -> toml::Value {
    toml::Value::String(value.to_owned())
}

fn path(value: &Path) -> toml::Value {
    s(&value.to_string_lossy())
}

fn int(value: impl TryInto<i64>) -> toml::Value {
    toml::Value::Integer(value.try_into().unwrap_or(i64::MAX))
}

fn list(items: &[String]) -> toml::Value {
    toml::Value::Array(items.iter().map(|i| s(i)).collect())
}
