//! Trove's own guest-agent config files → a layer of [`Layers`].
//!
//! Read (all `[DEFAULT]` unless noted), with the names and defaults of Trove 26 and
//! oslo.messaging 18:
//!
//! | Trove option | becomes | when absent |
//! | --- | --- | --- |
//! | `guest_id` (guest_info.conf) | `guest_id` | error |
//! | `transport_url` (every host) | `amqp.url` | old `rabbit_*` options, else guestagent's default |
//! | `[oslo_messaging_rabbit] ssl` (or `?ssl=1` in `transport_url`) | `amqps://` | plain `amqp://` |
//! | `[oslo_messaging_rabbit] ssl_ca_file`, `ssl_cert_file`, `ssl_key_file` (or the same in the URL's query) | `amqp.tls_*` | the system's CA bundle, no client certificate |
//! | `[oslo_messaging_rabbit] ssl_version` | checked: TLS 1.2 or later | any TLS 1.2 / 1.3 |
//! | `control_exchange` | `amqp.exchange` | `openstack` (oslo.messaging's default) |
//! | `conductor_queue` | `amqp.conductor_topic` | `trove-conductor` |
//! | `instance_rpc_encr_key` (guest_info.conf) | `amqp.rpc_encryption_key` | no encryption |
//! | `report_interval` | `amqp.report_interval` | 30 s |
//! | `[<datastore_manager>] ignore_users`, `ignore_dbs` (then `[DEFAULT]`) | `mysql.ignore_*` | none extra |
//! | `[<datastore_manager>] mount_point` (then `[DEFAULT]`) | `mysql.mount_point` | `/var/lib/mysql` |
//! | `ssl_mode` (guest_info.conf) | `trove.ssl_mode` | no TLS mode |
//! | `root_grant`, `root_grant_option` (`[<datastore_manager>]`, then `[DEFAULT]`, where Trove 26 registers them) | `mysql.root_grant*` | `ALL`, with grant option |
//! | the rest of `[oslo_messaging_rabbit]`, and the query of `transport_url` | `[oslo_messaging_rabbit]` (see `config::rabbit`) | oslo's defaults |
//!
//! Other options are ignored, as oslo.config ignores options nobody
//! registered; a query parameter of `transport_url` that is no option of
//! oslo's rabbit driver is refused, as oslo refuses it.

use super::files::{self, Text};
use super::ini::{self, Entry};
use super::transport::Transport;
use super::{ConfigError, DEFAULT_TROVE_CONTROL_EXCHANGE, Layers, Sourced, rabbit};
use secrecy::SecretString;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Every option of every file, the last assignment winning.
#[derive(Default)]
struct Store {
    values: HashMap<(String, String), (Zeroizing<String>, PathBuf)>,
}

impl Store {
    fn get(&self, section: &str, key: &str) -> Option<(&str, &Path)> {
        self.values
            .get(&(section.to_owned(), key.to_owned()))
            .map(|(value, path)| (value.as_str(), path.as_path()))
    }

    /// `key` from the first of `sections` that sets it.
    fn first(&self, sections: &[&str], key: &str) -> Option<(&str, &Path, String)> {
        sections.iter().find_map(|section| {
            self.get(section, key)
                .map(|(v, p)| (v, p, format!("[{section}] {key}")))
        })
    }
}

/// Reads Trove's files (directories expanded like oslo's `--config-dir`) and
/// lays the options guestagent understands over `layers`. Defaults that Trove's
/// files imply are attributed to `origin`.
pub(super) fn read(
    paths: &[PathBuf],
    origin: &Path,
    layers: &mut Layers,
) -> Result<(), ConfigError> {
    let mut store = Store::default();
    for path in expand(paths)? {
        let Text { text, mode } = files::read_text(&path)?;
        let entries = ini::parse(&path, &text)?;
        if entries.iter().any(holds_secret) {
            files::check_private(&path, mode)?;
        }
        for Entry {
            section,
            key,
            value,
        } in entries
        {
            store.values.insert((section, key), (value, path.clone()));
        }
    }
    apply(&store, origin, layers)
}

/// Files in the order oslo.config reads them: a directory gives its `*.conf`
/// files (not hidden ones) sorted by name.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigError> {
    let read_err = |path: &Path, source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| read_err(path, e))? {
            let file = entry.map_err(|e| read_err(path, e))?.path();
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            if name.ends_with(".conf") && !name.starts_with('.') && file.is_file() {
                found.push(file);
            }
        }
        if found.is_empty() {
            let none = std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no *.conf file in this directory",
            );
            return Err(read_err(path, none));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Whether an entry is a secret that makes its file need protecting: broker
/// credentials, the RPC key, and anything named like a password (e.g. the
/// `[service_credentials] password` devstack writes, old `nova_proxy_admin_pass`).
fn holds_secret(entry: &Entry) -> bool {
    let value = entry.value.as_str();
    let key = entry.key.as_str();
    if value.is_empty() {
        return false;
    }
    match key {
        "transport_url" => {
            Transport::parse(value).map_or(value.contains('@'), |t| t.has_password())
        }
        "instance_rpc_encr_key" => true,
        _ => key.contains("password") || key.ends_with("_pass") || key.contains("secret"),
    }
}

fn apply(store: &Store, origin: &Path, layers: &mut Layers) -> Result<(), ConfigError> {
    let default = |key: &str| store.first(&["DEFAULT"], key);
    let put = |(value, path, key): (&str, &Path, String)| Sourced::new(value.to_owned(), path, key);
    if let Some(id) = default("guest_id").filter(|(v, _, _)| !v.is_empty()) {
        layers.guest_id = Some(put(id));
    }
    layers.exchange = Some(default("control_exchange").map_or_else(
        || {
            let key = "[DEFAULT] control_exchange (oslo.messaging default)";
            Sourced::new(DEFAULT_TROVE_CONTROL_EXCHANGE.to_owned(), origin, key)
        },
        put,
    ));
    if let Some(queue) = default("conductor_queue") {
        layers.conductor_topic = Some(put(queue));
    }
    if let Some((key, path, name)) = default("instance_rpc_encr_key") {
        layers.rpc_encryption_key = Some(Sourced::new(SecretString::from(key), path, name));
    }
    if let Some((value, path, key)) = default("report_interval") {
        let seconds = value
            .trim()
            .parse()
            .map_err(|_| ConfigError::invalid(path, &key, "must be a whole number of seconds"))?;
        layers.report_interval = Some(Sourced::new(seconds, path, key));
    }
    if let Some(url) = amqp_url(store)? {
        layers.url = Some(url);
    }
    if ssl_on(store)? {
        tls_files(store, layers)?;
    }
    rabbit_options(store, layers)?;
    let manager = default("datastore_manager").map(|(m, _, _)| m.to_lowercase());
    let section = manager.as_deref().unwrap_or("mysql");
    for (key, slot) in [
        ("ignore_users", &mut layers.ignore_users),
        ("ignore_dbs", &mut layers.ignore_dbs),
        ("root_grant", &mut layers.root_grant),
    ] {
        if let Some((value, path, key)) = store.first(&[section, "DEFAULT"], key) {
            *slot = Some(Sourced::new(ini::list(value), path, key));
        }
    }
    if let Some((value, path, key)) = default("ssl_mode") {
        layers.ssl_mode = Some(Sourced::new(value.to_owned(), path, key));
    }
    if let Some((value, path, key)) = store.first(&[section, "DEFAULT"], "mount_point") {
        layers.mount_point = Some(Sourced::new(value.to_owned(), path, key));
    }
    if let Some((value, path, key)) = store.first(&[section, "DEFAULT"], "root_grant_option") {
        let on = ini::boolean(value)
            .ok_or_else(|| ConfigError::invalid(path, &key, "must be true or false"))?;
        layers.root_grant_option = Some(Sourced::new(on, path, key));
    }
    Ok(())
}

/// `[oslo_messaging_rabbit] name`, or, as oslo's `ConfigOptsProxy` has it,
/// the same name in the query of `transport_url`, which wins.
fn rabbit_option<'a>(store: &'a Store, name: &str) -> Option<(String, &'a Path, String)> {
    let from_url = store
        .first(&["DEFAULT"], "transport_url")
        .and_then(|(url, path, _)| {
            let value = Transport::parse(url).ok()?.query(name)?.to_owned();
            Some((
                value,
                path,
                format!("[DEFAULT] transport_url (query {name})"),
            ))
        });
    from_url.or_else(|| {
        store
            .first(&["oslo_messaging_rabbit"], name)
            .map(|(v, p, k)| (v.to_owned(), p, k))
    })
}

/// The driver's options other than TLS, into the layer `config::rabbit`
/// checks; a query parameter oslo does not know is refused.
fn rabbit_options(store: &Store, layers: &mut Layers) -> Result<(), ConfigError> {
    if let Some((url, path, key)) = store.first(&["DEFAULT"], "transport_url")
        && let Ok(t) = Transport::parse(url)
        && let Some((unknown, _)) = t
            .query
            .iter()
            .find(|(k, _)| !rabbit::OPTIONS.contains(&k.as_str()))
    {
        return Err(ConfigError::invalid(
            path,
            key,
            format!(
                "query parameter {unknown:?} is no option of oslo.messaging's rabbit driver \
                 (oslo refuses it too)"
            ),
        ));
    }
    for name in rabbit::OPTIONS
        .iter()
        .filter(|n| !rabbit::TLS_OPTIONS.contains(n))
    {
        if let Some((value, path, key)) = rabbit_option(store, name) {
            layers.rabbit.insert(name, Sourced::new(value, path, key));
        }
    }
    Ok(())
}

/// The TLS files and version of `[oslo_messaging_rabbit]`, read (as oslo
/// reads them) only with `ssl` on. oslo then verifies nothing unless
/// `ssl_ca_file` is set; guestagent always verifies (see `amqp::tls`),
/// against the system's bundle when no CA file is given.
fn tls_files(store: &Store, layers: &mut Layers) -> Result<(), ConfigError> {
    for (name, slot) in [
        ("ssl_ca_file", &mut layers.tls_ca_file),
        ("ssl_cert_file", &mut layers.tls_cert_file),
        ("ssl_key_file", &mut layers.tls_key_file),
    ] {
        if let Some((value, path, key)) = rabbit_option(store, name)
            && !value.is_empty()
        {
            *slot = Some(Sourced::new(value, path, key));
        }
    }
    if let Some((version, path, key)) = rabbit_option(store, "ssl_version") {
        match version.trim().to_ascii_lowercase().as_str() {
            // SSLv23 is "the best both sides speak"; TLS 1.2 alone is met
            // by at least TLS 1.2.
            "" | "sslv23" | "tlsv1_2" => {}
            "tlsv1" | "tlsv1_1" | "sslv2" | "sslv3" => {
                return Err(ConfigError::invalid(
                    path,
                    key,
                    "guestagent speaks TLS 1.2 and 1.3 only; use TLSv1_2 or SSLv23 (or leave it unset)",
                ));
            }
            _ => {
                return Err(ConfigError::invalid(
                    path,
                    key,
                    "must be TLSv1_2 or SSLv23 (oslo.messaging's names)",
                ));
            }
        }
    }
    Ok(())
}

/// Whether oslo would speak TLS: `ssl` (section or URL query), or the old
/// `rabbit_use_ssl`.
fn ssl_on(store: &Store) -> Result<bool, ConfigError> {
    const RABBIT: [&str; 2] = ["oslo_messaging_rabbit", "DEFAULT"];
    match rabbit_option(store, "ssl").or_else(|| {
        store
            .first(&RABBIT, "rabbit_use_ssl")
            .map(|(v, p, k)| (v.to_owned(), p, k))
    }) {
        Some((value, path, key)) => ini::boolean(&value)
            .ok_or_else(|| ConfigError::invalid(path, key, "must be true or false")),
        None => Ok(false),
    }
}

/// `transport_url`, or the old `rabbit_*` options, as an `amqp://` URL.
fn amqp_url(store: &Store) -> Result<Option<Sourced<SecretString>>, ConfigError> {
    const RABBIT: [&str; 2] = ["oslo_messaging_rabbit", "DEFAULT"];
    let scheme = if ssl_on(store)? { "amqps" } else { "amqp" };
    if let Some((value, path, key)) = store.first(&["DEFAULT"], "transport_url") {
        let transport = Transport::parse(value).map_err(|r| ConfigError::invalid(path, &key, r))?;
        let amqp = transport.to_amqp(scheme);
        return Ok(Some(Sourced::new(secret(amqp), path, key)));
    }
    // Options oslo.messaging dropped in 2019, still found in old guest images.
    let old = |key| store.first(&RABBIT, key);
    let keys = [
        "rabbit_hosts",
        "rabbit_host",
        "rabbit_port",
        "rabbit_userid",
        "rabbit_password",
        "rabbit_virtual_host",
    ];
    let Some((_, path, key)) = keys.into_iter().find_map(old) else {
        return Ok(None);
    };
    let hosts = match old("rabbit_hosts").map(|(v, _, _)| ini::list(v)) {
        Some(hosts) if !hosts.is_empty() => hosts,
        _ => {
            let host = old("rabbit_host").map_or("localhost", |(v, _, _)| v);
            let port = old("rabbit_port").map_or("5672", |(v, _, _)| v);
            vec![format!("{host}:{port}")]
        }
    };
    let user = old("rabbit_userid").map_or("guest", |(v, _, _)| v);
    let password = old("rabbit_password").map_or("guest", |(v, _, _)| v);
    let transport = Transport {
        hosts: hosts
            .into_iter()
            .map(|host| super::transport::TransportHost {
                user: Some(user.to_owned()),
                password: Some(password.to_owned()),
                host,
            })
            .collect(),
        vhost: old("rabbit_virtual_host")
            .map_or("/", |(v, _, _)| v)
            .to_owned(),
        query: Vec::new(),
    };
    let amqp = transport.to_amqp(scheme);
    Ok(Some(Sourced::new(secret(amqp), path, key)))
}

fn secret(value: Zeroizing<String>) -> SecretString {
    SecretString::from(value.as_str())
}

#[cfg(test)]
#[path = "trove_tests.rs"]
mod tests;
