//! The TOML file as written: serde structs, every field optional, unknown keys
//! refused. Nothing outside `config` sees these; [`read_toml`] turns one file into
//! a layer of [`Layers`].

use super::files::{self, Text};
use super::transport::Transport;
use super::{ConfigError, Layers, Sourced, rabbit, url};
use secrecy::SecretString;
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    guest_id: Option<String>,
    amqp: Option<RawAmqp>,
    mysql: Option<RawMysql>,
    state: Option<RawState>,
    log: Option<RawLog>,
    limits: Option<RawLimits>,
    trove: Option<RawTrove>,
    /// oslo's options by oslo's names; checked in `rabbit_table`.
    oslo_messaging_rabbit: Option<toml::Table>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAmqp {
    url: Option<String>,
    exchange: Option<String>,
    conductor_topic: Option<String>,
    rpc_encryption_key: Option<String>,
    allow_plaintext: Option<bool>,
    report_interval: Option<i64>,
    prefetch: Option<i64>,
    allow_root_enable: Option<bool>,
    tls_ca_file: Option<String>,
    tls_cert_file: Option<String>,
    tls_key_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMysql {
    socket: Option<String>,
    user: Option<String>,
    password_file: Option<String>,
    ignore_users: Option<Vec<String>>,
    ignore_dbs: Option<Vec<String>>,
    mount_point: Option<String>,
    root_grant: Option<Vec<String>>,
    root_grant_option: Option<bool>,
    auth_plugin: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTrove {
    await_prepare: Option<bool>,
    prepare_marker_dir: Option<String>,
    ssl_mode: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    dir: Option<String>,
    dedup_window: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_message_bytes: Option<i64>,
    max_items: Option<i64>,
}

/// Reads one guestagent TOML file and lays its keys over `layers`.
pub(super) fn read_toml(path: &Path, layers: &mut Layers) -> Result<(), ConfigError> {
    let Text { text, mode } = files::read_text(path)?;
    let raw = parse(path, &text)?;
    let amqp = raw.amqp.as_ref();
    let url_secret =
        amqp.and_then(|a| a.url.as_deref())
            .is_some_and(|u| match Transport::parse(u) {
                Ok(t) => t.has_password(),
                Err(_) => url::has_password(u),
            });
    let key_secret = amqp
        .and_then(|a| a.rpc_encryption_key.as_deref())
        .is_some_and(|k| !k.is_empty());
    if url_secret || key_secret {
        files::check_private(path, mode)?;
    }
    apply(raw, path, layers)
}

fn parse(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: syntax_message(text, &e),
    })?;
    // Deserializing from the table (not the text) makes toml report the dotted key
    // of a bad value; string values are moved, not copied, into the result.
    table.try_into().map_err(|e| typed_error(path, &e))
}

/// "line L, column C: what", without the offending text (it may hold a secret).
fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let message = scrub(e.message());
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// Maps a type or unknown-key error to an error naming the dotted key.
fn typed_error(path: &Path, e: &toml::de::Error) -> ConfigError {
    // toml appends "in `a.b`" to its Display for errors found in a value; the
    // message itself only names the innermost key.
    let shown = e.to_string();
    let table = shown
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("in `").and_then(|l| l.strip_suffix('`')));
    let message = e.message();
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split_once('`'))
        .map(|(name, _)| name);
    let join = |name: &str| match table {
        Some(table) => format!("{table}.{name}"),
        None => name.to_owned(),
    };
    match unknown {
        Some(name) => ConfigError::UnknownKey {
            path: path.to_owned(),
            key: join(name),
        },
        None => ConfigError::Invalid {
            path: path.to_owned(),
            key: table.unwrap_or("?").to_owned(),
            reason: scrub(message),
        },
    }
}

/// Hides the string value serde quotes when it could not use it (`string "…"`),
/// and puts this module's type names in the user's words.
pub(super) fn scrub(message: &str) -> String {
    const STR: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(STR) {
        out.push_str(&rest[..at]);
        out.push_str("string (value hidden)");
        let mut escaped = false;
        let quoted = &rest[at + STR.len()..];
        let end = quoted.char_indices().find_map(|(i, c)| match c {
            '\\' if !escaped => {
                escaped = true;
                None
            }
            '"' if !escaped => Some(i + 1),
            _ => {
                escaped = false;
                None
            }
        });
        rest = &quoted[end.unwrap_or(quoted.len())..];
    }
    out.push_str(rest);
    for raw in [
        "RawAmqp",
        "RawMysql",
        "RawState",
        "RawLog",
        "RawLimits",
        "RawTrove",
    ] {
        out = out.replace(&format!("struct {raw}"), "a table");
    }
    out.replace("expected i64", "expected an integer")
}

fn apply(mut raw: RawConfig, path: &Path, layers: &mut Layers) -> Result<(), ConfigError> {
    let at = |key: &str| (path, key.to_owned());
    set(&mut layers.guest_id, raw.guest_id, at("guest_id"));
    if let Some(table) = raw.oslo_messaging_rabbit.take() {
        rabbit_table(table, path, layers)?;
    }
    let mut amqp = raw.amqp.unwrap_or_default();
    match amqp.url.take() {
        Some(u) if Transport::parse(&u).is_ok() => oslo_url(&u, path, layers)?,
        other => set_secret(&mut layers.url, other, at("amqp.url")),
    }
    set(
        &mut layers.exchange,
        amqp.exchange.take(),
        at("amqp.exchange"),
    );
    set(
        &mut layers.conductor_topic,
        amqp.conductor_topic.take(),
        at("amqp.conductor_topic"),
    );
    set_secret(
        &mut layers.rpc_encryption_key,
        amqp.rpc_encryption_key.take(),
        at("amqp.rpc_encryption_key"),
    );
    set(
        &mut layers.allow_plaintext,
        amqp.allow_plaintext.take(),
        at("amqp.allow_plaintext"),
    );
    set(
        &mut layers.report_interval,
        amqp.report_interval.take(),
        at("amqp.report_interval"),
    );
    set(
        &mut layers.prefetch,
        amqp.prefetch.take(),
        at("amqp.prefetch"),
    );
    set(
        &mut layers.allow_root_enable,
        amqp.allow_root_enable.take(),
        at("amqp.allow_root_enable"),
    );
    set(
        &mut layers.tls_ca_file,
        amqp.tls_ca_file.take(),
        at("amqp.tls_ca_file"),
    );
    set(
        &mut layers.tls_cert_file,
        amqp.tls_cert_file.take(),
        at("amqp.tls_cert_file"),
    );
    set(
        &mut layers.tls_key_file,
        amqp.tls_key_file.take(),
        at("amqp.tls_key_file"),
    );
    let mysql = raw.mysql.unwrap_or_default();
    set(&mut layers.socket, mysql.socket, at("mysql.socket"));
    set(&mut layers.user, mysql.user, at("mysql.user"));
    set(
        &mut layers.password_file,
        mysql.password_file,
        at("mysql.password_file"),
    );
    set(
        &mut layers.ignore_users,
        mysql.ignore_users,
        at("mysql.ignore_users"),
    );
    set(
        &mut layers.ignore_dbs,
        mysql.ignore_dbs,
        at("mysql.ignore_dbs"),
    );
    set(
        &mut layers.mount_point,
        mysql.mount_point,
        at("mysql.mount_point"),
    );
    set(
        &mut layers.root_grant,
        mysql.root_grant,
        at("mysql.root_grant"),
    );
    set(
        &mut layers.root_grant_option,
        mysql.root_grant_option,
        at("mysql.root_grant_option"),
    );
    set(
        &mut layers.auth_plugin,
        mysql.auth_plugin,
        at("mysql.auth_plugin"),
    );
    let trove = raw.trove.unwrap_or_default();
    set(
        &mut layers.await_prepare,
        trove.await_prepare,
        at("trove.await_prepare"),
    );
    set(
        &mut layers.prepare_marker_dir,
        trove.prepare_marker_dir,
        at("trove.prepare_marker_dir"),
    );
    set(&mut layers.ssl_mode, trove.ssl_mode, at("trove.ssl_mode"));
    let state = raw.state.unwrap_or_default();
    set(&mut layers.state_dir, state.dir, at("state.dir"));
    set(
        &mut layers.dedup_window,
        state.dedup_window,
        at("state.dedup_window"),
    );
    set(
        &mut layers.log_level,
        raw.log.unwrap_or_default().level,
        at("log.level"),
    );
    let limits = raw.limits.unwrap_or_default();
    set(
        &mut layers.max_message_bytes,
        limits.max_message_bytes,
        at("limits.max_message_bytes"),
    );
    set(
        &mut layers.max_items,
        limits.max_items,
        at("limits.max_items"),
    );
    Ok(())
}

/// `[oslo_messaging_rabbit]` in TOML: oslo's option names, booleans,
/// integers or strings as oslo would read them; TLS goes in `amqp.tls_*`.
fn rabbit_table(table: toml::Table, path: &Path, layers: &mut Layers) -> Result<(), ConfigError> {
    for (key, value) in table {
        let dotted = format!("oslo_messaging_rabbit.{key}");
        let Some(name) = rabbit::OPTIONS
            .iter()
            .find(|n| **n == key && !rabbit::TLS_OPTIONS.contains(n))
        else {
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                key: dotted,
            });
        };
        let text = match value {
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::String(s) => s,
            _ => {
                return Err(ConfigError::invalid(
                    path,
                    dotted,
                    "must be a boolean, a number or a string",
                ));
            }
        };
        layers.rabbit.insert(name, Sourced::new(text, path, dotted));
    }
    Ok(())
}

/// `amqp.url` in oslo's form (`rabbit://u:p@h1,u:p@h2/vhost?ssl=1`): every
/// host, `ssl` and the TLS files from the query, any other query parameter
/// an oslo option overriding `[oslo_messaging_rabbit]`.
fn oslo_url(text: &str, path: &Path, layers: &mut Layers) -> Result<(), ConfigError> {
    let key = "amqp.url";
    let transport = Transport::parse(text).map_err(|r| ConfigError::invalid(path, key, r))?;
    let mut tls = false;
    for (name, value) in &transport.query {
        let from = || Sourced::new(value.clone(), path, format!("{key} (query {name})"));
        match name.as_str() {
            "ssl" => {
                tls = super::ini::boolean(value).ok_or_else(|| {
                    ConfigError::invalid(path, key, "query ssl must be true or false")
                })?;
            }
            "ssl_ca_file" => layers.tls_ca_file = Some(from()),
            "ssl_cert_file" => layers.tls_cert_file = Some(from()),
            "ssl_key_file" => layers.tls_key_file = Some(from()),
            n => match rabbit::OPTIONS.iter().find(|o| **o == n) {
                Some(o) if !rabbit::TLS_OPTIONS.contains(o) => {
                    layers.rabbit.insert(o, from());
                }
                _ => {
                    return Err(ConfigError::invalid(
                        path,
                        key,
                        format!("query parameter {n:?} is no option guestagent reads"),
                    ));
                }
            },
        }
    }
    let amqp = transport.to_amqp(if tls { "amqps" } else { "amqp" });
    layers.url = Some(Sourced::new(SecretString::from(amqp.as_str()), path, key));
    Ok(())
}

fn set<T>(slot: &mut Option<Sourced<T>>, value: Option<T>, (path, key): (&Path, String)) {
    if let Some(value) = value {
        *slot = Some(Sourced::new(value, path, key));
    }
}

fn set_secret(
    slot: &mut Option<Sourced<SecretString>>,
    value: Option<String>,
    (path, key): (&Path, String),
) {
    if let Some(value) = value {
        *slot = Some(Sourced::new(secret(value), path, key));
    }
}

/// Moves a string into a [`SecretString`], wiping the original buffer.
fn secret(value: String) -> SecretString {
    let value = zeroize::Zeroizing::new(value);
    SecretString::from(value.as_str())
}

impl Drop for RawAmqp {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.url.zeroize();
        self.rpc_encryption_key.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn scrub_hides_string_values_only() {
        assert_eq!(
            scrub(r#"invalid type: string "pa\"ss", expected i64"#),
            "invalid type: string (value hidden), expected an integer"
        );
        assert_eq!(
            scrub("invalid basic string, expected `\"`"),
            "invalid basic string, expected `\"`"
        );
        assert_eq!(
            scrub("invalid type: string \"x\", expected struct RawAmqp"),
            "invalid type: string (value hidden), expected a table"
        );
    }
}
