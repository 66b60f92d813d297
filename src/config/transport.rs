//! oslo.messaging's transport URL, every host of it.
//!
//! `rabbit://user:pass@host1:5672,user2:pass2@host2:5672/vhost?query` is read
//! as `oslo_messaging.TransportURL.parse` reads it (18.3.1, transport.py
//! 418-513): the netloc split at `,`, each host with its own credentials
//! (`rsplit('@')`, then the first `:`), percent escapes undone leniently, the
//! path after `/` as the vhost, the query as option overrides. kombu then
//! gets one `amqp://` URL per host (impl_rabbit.py `_transform_transport_url`):
//! port 5672 unless given, an empty vhost meaning `/`, a host without
//! credentials logging in as guest/guest, no host at all meaning
//! `guest:guest@localhost`. [`Transport::to_amqp`] writes exactly that, as
//! one multi-host URL in lapin's syntax, for `config::url` to split.

use zeroize::Zeroizing;

use super::url;

/// One host of a transport URL, decoded.
pub(super) struct TransportHost {
    pub user: Option<String>,
    pub password: Option<String>,
    /// `host[:port]`, as written.
    pub host: String,
}

impl Drop for TransportHost {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.password.zeroize();
    }
}

/// A parsed transport URL.
pub(super) struct Transport {
    pub hosts: Vec<TransportHost>,
    pub vhost: String,
    /// The query's `key=value` pairs, decoded, in order.
    pub query: Vec<(String, String)>,
}

impl Transport {
    /// Splits `rabbit://...` as oslo.messaging does. Only the rabbit driver
    /// is served (`amqp://` is oslo's AMQP 1.0 driver).
    pub(super) fn parse(text: &str) -> Result<Transport, &'static str> {
        let (scheme, rest) = text.split_once(':').ok_or("must start with rabbit://")?;
        if !matches!(
            scheme.to_ascii_lowercase().as_str(),
            "rabbit" | "kombu+rabbit"
        ) {
            return Err("only rabbit:// is supported (oslo.messaging's amqp:// is AMQP 1.0)");
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, q),
            None => (rest, ""),
        };
        let (netloc, path) = match rest.strip_prefix("//") {
            Some(rest) => rest.split_at(rest.find('/').unwrap_or(rest.len())),
            None => ("", rest),
        };
        let vhost = path
            .strip_prefix('/')
            .map(url::decode_lenient)
            .unwrap_or_default();
        let hosts = netloc
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|part| match part.rsplit_once('@') {
                Some((creds, host)) => {
                    let (user, password) = match creds.split_once(':') {
                        Some((user, password)) => (user, Some(url::decode_lenient(password))),
                        None => (creds, None),
                    };
                    TransportHost {
                        user: Some(url::decode_lenient(user)),
                        password,
                        host: host.to_owned(),
                    }
                }
                None => TransportHost {
                    user: None,
                    password: None,
                    host: part.to_owned(),
                },
            })
            .collect();
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (url::decode_lenient(k), url::decode_lenient(v))
            })
            .collect();
        Ok(Transport {
            hosts,
            vhost,
            query,
        })
    }

    /// A query parameter, the last one given winning.
    pub(super) fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether any host carries a non-empty password.
    pub(super) fn has_password(&self) -> bool {
        self.hosts
            .iter()
            .any(|h| h.password.as_deref().is_some_and(|p| !p.is_empty()))
    }

    /// The URLs kombu would get from oslo.messaging, as one multi-host URL in
    /// lapin's syntax (`scheme://u:p@h1:5672,u:p@h2:5672/vhost`): credentials
    /// re-encoded, the query (oslo's driver options) left to the caller.
    pub(super) fn to_amqp(&self, scheme: &str) -> Zeroizing<String> {
        let vhost = if self.vhost.is_empty() {
            "/"
        } else {
            &self.vhost
        };
        let mut out = Zeroizing::new(String::with_capacity(64 + 96 * self.hosts.len()));
        out.push_str(scheme);
        out.push_str("://");
        let localhost = [TransportHost {
            user: None,
            password: None,
            host: "localhost".into(),
        }];
        let hosts = if self.hosts.is_empty() {
            &localhost[..]
        } else {
            &self.hosts[..]
        };
        for (i, h) in hosts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // kombu logs in as guest/guest where oslo hands it no credentials.
            let (user, password) = match (&h.user, &h.password) {
                (None, None) => ("guest", "guest"),
                (user, password) => (
                    user.as_deref().unwrap_or_default(),
                    password.as_deref().unwrap_or_default(),
                ),
            };
            out.push_str(&url::encode(user));
            out.push(':');
            out.push_str(&Zeroizing::new(url::encode(password)));
            out.push('@');
            out.push_str(&h.host);
            let has_port = match h.host.rsplit_once(':') {
                Some((host, _)) => !host.starts_with('[') || host.ends_with(']'),
                None => false,
            };
            if !has_port {
                out.push_str(":5672");
            }
        }
        out.push('/');
        out.push_str(&url::encode(vhost));
        out
    }
}
