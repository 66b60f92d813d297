//! AMQP URL checks, redaction and percent-encoding.
//!
//! The checks are stricter than lapin's parser so that every URL accepted here means
//! the same thing to lapin (tested against `lapin::uri::AMQPUri`). Errors are fixed
//! strings: a URL (and so its password) never ends up in a message.

use super::REDACTED;

/// One host of a checked AMQP URL, still percent-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Parts<'a> {
    /// The user, if a userinfo part is present.
    pub user: Option<&'a str>,
    /// The password, if the userinfo part has a `:`.
    pub password: Option<&'a str>,
    /// `host[:port]`.
    pub hostport: &'a str,
}

/// A checked AMQP URL: one or more hosts (`amqp://u:p@h1,u:p@h2:5673/vh`,
/// comma-separated as in oslo's transport URLs), sharing the scheme, the
/// vhost and the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Url<'a> {
    /// `amqp://` or `amqps://`.
    pub scheme: &'a str,
    /// Every host, in the order written.
    pub hosts: Vec<Parts<'a>>,
    /// The vhost path and the query: everything after the hosts.
    pub tail: &'a str,
}

impl Url<'_> {
    /// One single-host URL per host, as lapin takes them.
    pub(super) fn single_host_urls(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|h| {
                let mut out = String::from(self.scheme);
                if let Some(user) = h.user {
                    out.push_str(user);
                    if let Some(password) = h.password {
                        out.push(':');
                        out.push_str(password);
                    }
                    out.push('@');
                }
                out.push_str(h.hostport);
                out.push_str(self.tail);
                out
            })
            .collect()
    }
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(c: u8) -> bool {
    matches!(
        c,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// Checks `s` is made of allowed characters and well-formed `%XX` escapes that
/// decode to UTF-8.
fn check_encoded(s: &str, extra: &[u8], what: &'static str) -> Result<(), &'static str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(what)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(what);
            }
            i += 3;
        } else if is_unreserved(c) || is_sub_delim(c) || extra.contains(&c) {
            i += 1;
        } else {
            return Err(what);
        }
    }
    match decode(s) {
        Some(bytes) if std::str::from_utf8(&bytes).is_ok() => Ok(()),
        _ => Err(what),
    }
}

/// Checks an `amqp://` or `amqps://` URL, of one host or several
/// (comma-separated), and splits off their credentials.
pub(super) fn parse(url: &str) -> Result<Url<'_>, &'static str> {
    let (scheme, after) = if let Some(after) = url.strip_prefix("amqp://") {
        ("amqp://", after)
    } else if let Some(after) = url.strip_prefix("amqps://") {
        ("amqps://", after)
    } else {
        return Err("must start with amqp:// or amqps:// (or rabbit://, oslo's form)");
    };
    if url.contains('#') {
        return Err("must not contain '#' (write it as %23 in a password)");
    }
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(end);
    let hosts = authority
        .split(',')
        .map(host_parts)
        .collect::<Result<Vec<_>, _>>()?;
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    if let Some(vhost) = path.strip_prefix('/') {
        if vhost.is_empty() {
            return Err("has an empty vhost; write the default vhost / as %2f");
        }
        check_encoded(
            vhost,
            b":@",
            "vhost must be one percent-encoded path segment (write / as %2f)",
        )?;
        if matches!(decode(vhost).as_deref(), Some(b"." | b"..")) {
            return Err("vhost . or .. cannot be written in a URL (it is dropped)");
        }
    }
    if let Some(query) = query {
        check_encoded(
            query,
            b":@/?",
            "query has a character that must be percent-encoded",
        )?;
    }
    Ok(Url {
        scheme,
        hosts,
        tail,
    })
}

/// One `[user[:password]@]host[:port]` of the authority.
fn host_parts(authority: &str) -> Result<Parts<'_>, &'static str> {
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            check_encoded(
                info,
                b":",
                "user or password has a character that must be percent-encoded",
            )?;
            match info.split_once(':') {
                Some((user, password)) => (Some(user), Some(password)),
                None => (Some(info), None),
            }
        }
    };
    if hostport.starts_with('[') {
        return Err(
            "IPv6 address literals are not supported (lapin would connect \
                    to localhost instead); use a host name",
        );
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    };
    if host.is_empty() {
        return Err("has no host (or an empty one between commas)");
    }
    if !host
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
    {
        return Err("host may only hold letters, digits, '.', '-' and '_'");
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|c| c.is_ascii_digit()) => {}
            _ => return Err("port must be a number from 1 to 65535"),
        }
    }
    Ok(Parts {
        user,
        password,
        hostport,
    })
}

/// True when the URL carries a non-empty password for any host. An
/// unparsable URL counts as holding one if it has any userinfo, so
/// permission checks err on the safe side.
pub(super) fn has_password(url: &str) -> bool {
    match parse(url) {
        Ok(u) => u
            .hosts
            .iter()
            .any(|h| h.password.is_some_and(|p| !p.is_empty())),
        Err(_) => url.contains('@'),
    }
}

/// The URL with every password replaced by `<redacted>`, everything else kept.
pub(super) fn redact(url: &str) -> String {
    match parse(url) {
        Ok(u) => {
            let hosts: Vec<String> = u
                .hosts
                .iter()
                .map(|h| match (h.user, h.password) {
                    (Some(user), Some(_)) => format!("{user}:{REDACTED}@{}", h.hostport),
                    (Some(user), None) => format!("{user}@{}", h.hostport),
                    (None, _) => h.hostport.to_owned(),
                })
                .collect();
            format!("{}{}{}", u.scheme, hosts.join(","), u.tail)
        }
        Err(_) => format!("{REDACTED} (invalid URL)"),
    }
}

/// The host and port of a single-host URL, for logs: no credentials.
pub(super) fn endpoint(url: &str) -> String {
    match parse(url) {
        Ok(u) => u
            .hosts
            .first()
            .map_or_else(String::new, |h| h.hostport.to_owned()),
        Err(_) => REDACTED.to_owned(),
    }
}

/// Percent-encodes every byte that is not unreserved (RFC 3986).
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` on a malformed escape.
pub(super) fn decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Decodes `%XX` escapes the way Python's `urllib.parse.unquote` does: a malformed
/// escape is kept as it is, invalid UTF-8 becomes U+FFFD.
pub(super) fn decode_lenient(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    #[test]
    fn accepts_good_urls() {
        for url in [
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            "amqps://u:p@rabbit.example.com/vh",
            "amqp://localhost",
            "amqp://u@host:1/v?frame_max=8192&heartbeat=10",
            "amqp://u:p%40ss%2Fw%3Ard@h/%2f",
        ] {
            assert!(parse(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn rejects_bad_urls_without_echoing_them() {
        for url in [
            "http://h/",
            "amqp://",
            "amqp://u:p@:5672/",
            "amqp://u:secret@h:0/",
            "amqp://u:secret@h:99999/",
            "amqp://u:secret@h:x/",
            "amqp://u:sec ret@h/",
            "amqp://u:sec#ret@h/",
            "amqp://u:secret@h/",
            "amqp://u:secret@h/a/b",
            "amqp://u:secret@h/.",
            "amqp://u:secret@h/%2E%2e",
            "amqp://u:secret@[::1]:5672/",
            "amqp://u:se%zzcret@h/",
            "amqp://u:se%ffcret@h/",
            "amqp:/u:secret@h",
        ] {
            let err = parse(url).expect_err(url);
            assert!(!err.contains("secret"), "{url}: {err}");
        }
    }

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact("amqp://guest:hunter2@10.0.0.1:5672/%2f?heartbeat=5"),
            "amqp://guest:<redacted>@10.0.0.1:5672/%2f?heartbeat=5"
        );
        assert_eq!(redact("amqp://guest@h/v"), "amqp://guest@h/v");
        assert_eq!(redact("amqp://h"), "amqp://h");
        assert!(!redact("amqp://u:hunter2@[::1]/").contains("hunter2"));
        assert!(has_password("amqp://u:p@h"));
        assert!(!has_password("amqp://u:@h"));
        assert!(!has_password("amqp://u@h"));
        assert!(has_password("not a url u:p@h"));
    }

    #[test]
    fn every_host_of_a_multi_host_url() {
        let url = "amqp://a:s3cret@h1:5672,b:s3cret2@h2,h3:5673/vh?heartbeat=5";
        let parsed = parse(url).unwrap();
        assert_eq!(parsed.hosts.len(), 3);
        assert_eq!(
            parsed.single_host_urls(),
            [
                "amqp://a:s3cret@h1:5672/vh?heartbeat=5",
                "amqp://b:s3cret2@h2/vh?heartbeat=5",
                "amqp://h3:5673/vh?heartbeat=5",
            ]
        );
        for single in parsed.single_host_urls() {
            let lapin = lapin::uri::AMQPUri::from_str(&single).unwrap();
            assert_eq!(lapin.vhost, "vh");
        }
        let shown = redact(url);
        assert_eq!(
            shown,
            "amqp://a:<redacted>@h1:5672,b:<redacted>@h2,h3:5673/vh?heartbeat=5"
        );
        assert!(has_password("amqp://h1,u:p@h2/v"));
        assert!(!has_password("amqp://h1,u@h2/v"));
        assert_eq!(endpoint("amqps://u:p@mq.example:5671/v"), "mq.example:5671");
        for bad in [
            "amqp://h1,,h2/v",
            "amqp://h1,/v",
            "amqp://u:s3cret@h1,[::1]/v",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(!e.contains("s3cret"));
        }
    }

    #[test]
    fn encoding_round_trips() {
        assert_eq!(encode("/"), "%2F");
        assert_eq!(encode("a b/ü"), "a%20b%2F%C3%BC");
        assert_eq!(
            decode("a%20b%2F%C3%BC").as_deref(),
            Some("a b/ü".as_bytes())
        );
        assert_eq!(decode("%2"), None);
        assert_eq!(decode_lenient("p%40ss%zz%"), "p@ss%zz%");
    }

    proptest! {
        /// Whatever this module accepts, lapin reads with the same credentials,
        /// host, port and vhost.
        #[test]
        fn agrees_with_lapin(
            user in "[a-zA-Z0-9 @:/%!]{0,8}",
            // lapin reads an empty password as "guest".
            password in "[a-zA-Z0-9 @:/%#?;=.]{1,8}",
            host in "[a-z0-9.-]{1,12}",
            port in 1u16..,
            vhost in "[a-zA-Z0-9 /%.]{1,8}",
        ) {
            prop_assume!(vhost != "." && vhost != "..");
            let url = format!(
                "amqp://{}:{}@{host}:{port}/{}",
                encode(&user), encode(&password), encode(&vhost)
            );
            prop_assert!(parse(&url).is_ok());
            let lapin = lapin::uri::AMQPUri::from_str(&url);
            prop_assert!(lapin.is_ok());
            let lapin = lapin.unwrap_or_default();
            prop_assert_eq!(lapin.authority.userinfo.password, password);
            prop_assert_eq!(lapin.authority.host, host);
            prop_assert_eq!(lapin.authority.port, port);
            prop_assert_eq!(lapin.vhost, vhost);
            if !user.is_empty() {
                prop_assert_eq!(lapin.authority.userinfo.username, user);
            }
        }

        /// Raw (unencoded) input is either refused or read by lapin as written.
        #[test]
        fn raw_urls_agree_with_lapin(
            password in "[a-zA-Z0-9!$&'()*+,;=~._-]{1,10}",
            vhost in "[a-zA-Z0-9!$&'()*+,;=~._:@-]{1,10}",
        ) {
            let url = format!("amqp://u:{password}@h:5672/{vhost}");
            if parse(&url).is_ok() {
                prop_assert!(vhost != "." && vhost != "..");
                let lapin = lapin::uri::AMQPUri::from_str(&url).unwrap_or_default();
                prop_assert_eq!(lapin.authority.userinfo.password, password);
                prop_assert_eq!(lapin.vhost, vhost);
            }
        }
    }
}
