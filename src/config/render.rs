//! The effective configuration as TOML, secrets redacted.
//!
//! Without secrets the output loads back into the same [`Config`]; with them, the
//! URL's password and `rpc_encryption_key` read `<redacted>` and the MySQL password
//! (whose file name is not kept) becomes a comment.

use super::{Config, REDACTED, url};
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

    out.table("state");
    out.kv("dir", path(&cfg.state.dir));
    out.kv("dedup_window", int(cfg.state.dedup_window.as_secs()));
    out.table("log");
    out.kv("level", s(&cfg.log.level));
    out.table("limits");
    out.kv("max_message_bytes", int(cfg.limits.max_message_bytes));
    out.kv("max_items", int(cfg.limits.max_items));
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
