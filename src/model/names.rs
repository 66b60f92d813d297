//! Typed names: the only way a user name, host, database name, character set
//! or password gets into the agent past the wire.
//!
//! Each type can only be built through its `parse`, which enforces the rules of
//! trove-wire §4. SQL is built from these types alone (see `mysql::quote`), so
//! a value that reaches mysqld has already been through one of these checks.
//! The rules are deliberately stricter than mysqld's own: a name Trove's API
//! would refuse is refused here too, and so is anything that could be confused
//! with the host's own accounts (`localhost`, loopback addresses).

use std::fmt;

/// Why a name was refused. The text names the kind of value and the rule, and
/// shows the offending value only where it cannot be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {shown}{reason}")]
pub struct NameError {
    what: &'static str,
    shown: String,
    reason: String,
}

impl NameError {
    pub(super) fn new(what: &'static str, value: Option<&str>, reason: impl Into<String>) -> Self {
        let shown = match value {
            // Debug-quoting makes quotes, NUL and control characters visible
            // in logs without letting them break the log line.
            Some(v) => format!("{:?} ", truncate(v, 80)),
            None => String::new(),
        };
        NameError {
            what,
            shown,
            reason: reason.into(),
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Longest user name MariaDB and MySQL 5.7+ accept, in characters.
pub const MAX_USER_NAME: usize = 32;
/// Longest database name, in characters.
pub const MAX_DB_NAME: usize = 64;
/// Longest host pattern accepted.
pub const MAX_HOST: usize = 255;

/// Characters that Trove's own API refuses in user names, plus `@` handling
/// below; refusing them here means no quoting bug could ever matter for them.
const USER_FORBIDDEN: &[char] = &['\'', '"', '`', ';', ',', '/', '\\'];

/// mysqld's account tables store names as utf8mb3: a character outside the
/// Basic Multilingual Plane (emoji) cannot be stored faithfully.
fn outside_bmp(s: &str) -> bool {
    s.chars().any(|c| u32::from(c) > 0xFFFF)
}

/// Unicode's format characters (category Cf) of the Basic Multilingual
/// Plane: zero-width spaces and joiners, direction marks and overrides, the
/// byte order mark. They are invisible, so `app\u{200b}` would look like
/// `app` in every listing and log while being another account.
fn is_format(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
    )
}

/// A validated account name (the part before `@`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserName(String);

impl UserName {
    /// Validates a user name: 1–32 characters, no quotes, `;`, `,`, `/`, `\`,
    /// control characters, characters outside the BMP, or surrounding space.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let err = |r: &str| Err(NameError::new("user name", Some(s), r));
        let len = s.chars().count();
        if len == 0 {
            return err("is empty");
        }
        if len > MAX_USER_NAME {
            return err(&format!("is longer than {MAX_USER_NAME} characters"));
        }
        if s.chars().any(|c| c.is_control()) {
            return err("contains a control character");
        }
        if s.chars().any(is_format) {
            return err(
                "contains an invisible format character (zero-width space, direction mark, ...)",
            );
        }
        if s.contains(USER_FORBIDDEN) {
            return err("contains a quote, ';', ',', '/' or '\\'");
        }
        if s.contains("--") || s.contains('#') {
            return err("contains an SQL comment marker ('--' or '#')");
        }
        if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
            return err("starts or ends with white space");
        }
        if outside_bmp(s) {
            return err("contains a character mysqld cannot store in an account name");
        }
        Ok(UserName(s.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated host pattern: `%`, an IPv4 or IPv6 address, an address with
/// a prefix length or netmask, or any of those with `%`/`_` wildcards
/// (Trove's rule: the value must parse as a network once the wildcards are
/// read as digits). Loopback forms are the host's own and refused.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPattern(String);

impl HostPattern {
    /// The host used when the caller gives none.
    pub fn any() -> Self {
        HostPattern("%".to_owned())
    }

    /// Validates a host pattern.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let err = |r: &str| Err(NameError::new("host", Some(s), r));
        if s.is_empty() {
            return err("is empty");
        }
        if s.len() > MAX_HOST {
            return err(&format!("is longer than {MAX_HOST} characters"));
        }
        if is_local_host(s) {
            return err("is local to the database host and reserved for system accounts");
        }
        if s != "%" && !is_network(&s.replace(['%', '_'], "1")) {
            return err("must be '%', an IP address or network, or a '%'/'_' wildcard of one");
        }
        // mysqld keeps host names in lower case; so must every lookup.
        Ok(HostPattern(s.to_ascii_lowercase()))
    }

    /// Accepts any host as it is stored in mysqld, for reading accounts back;
    /// never used to build a statement for an account of the caller's choosing.
    pub(crate) fn from_server(s: String) -> Self {
        HostPattern(s)
    }

    /// The pattern as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `addr`, `addr/prefix` or `addr/netmask`, as `netaddr.IPNetwork` reads it.
fn is_network(s: &str) -> bool {
    use std::net::IpAddr;
    let (addr, mask) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    // netaddr accepts short IPv4 forms ("10.0.1" after a "10.0.%" wildcard
    // is read as digits): 1-4 dotted parts of 0-255.
    let ip: Option<IpAddr> = addr.parse().ok().or_else(|| {
        let parts: Vec<&str> = addr.split('.').collect();
        let ok = (1..=4).contains(&parts.len()) && parts.iter().all(|p| p.parse::<u8>().is_ok());
        ok.then(|| IpAddr::from([0, 0, 0, 0]))
    });
    let Some(ip) = ip else { return false };
    match mask {
        None => true,
        Some(m) => {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            m.parse::<u8>().is_ok_and(|p| p <= max)
                || (ip.is_ipv4() && m.parse::<std::net::Ipv4Addr>().is_ok())
        }
    }
}

/// True for the host names that only reach mysqld from the database host
/// itself; accounts there belong to the system.
pub fn is_local_host(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    if h == "localhost" || h.starts_with("127.") || h == "localhost.localdomain" {
        return true;
    }
    // Every spelling of the IPv6 loopback (`::1`, `0::1`, `::1/128`, the
    // IPv4-mapped `::ffff:127.0.0.1`).
    let addr = h.split('/').next().unwrap_or_default();
    match addr.parse::<std::net::Ipv6Addr>() {
        Ok(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => false,
    }
}

/// A validated database (schema) name, following Trove's MySQLSchema rule.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DbName(String);

impl DbName {
    /// Validates a database name: 1–64 characters; letters, digits, `_`, `-`
    /// at both ends, and only white space, `?`, `#`, `@` between them.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let err = |r: &str| Err(NameError::new("database name", Some(s), r));
        let len = s.chars().count();
        if len == 0 {
            return err("is empty");
        }
        if len > MAX_DB_NAME {
            return err(&format!("is longer than {MAX_DB_NAME} characters"));
        }
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        let chars: Vec<char> = s.chars().collect();
        let ok = if chars.len() == 1 {
            word(chars[0])
        } else {
            // Trove's regex `^[A-Za-z0-9_-]+[\s?#@]*[A-Za-z0-9_-]+$`: a word, an
            // optional run of separators, a word.
            let lead = chars.iter().take_while(|c| word(**c)).count();
            let sep = chars[lead..]
                .iter()
                .take_while(|c| matches!(c, ' ' | '\t' | '?' | '#' | '@'))
                .count();
            let rest = &chars[lead + sep..];
            lead >= 1 && (sep == 0 || !rest.is_empty()) && rest.iter().all(|c| word(*c))
        };
        if !ok {
            return err(
                "must be letters, digits, '_' or '-', with only spaces, '?', '#' or '@' inside",
            );
        }
        if s.contains("--") {
            return err("contains an SQL comment marker ('--')");
        }
        Ok(DbName(s.to_owned()))
    }

    /// True when the name, with `_`, `%` and `\\` escaped as `GRANT ... ON
    /// db.*` needs them (`mysql::quote::grant_schema`), still fits the 64
    /// characters mysqld keeps. A longer pattern is refused by MariaDB 10.11
    /// and cut short (a grant on another schema) by older servers.
    pub fn grantable(&self) -> bool {
        let escaped = self.0.chars().count()
            + self
                .0
                .chars()
                .filter(|c| matches!(c, '_' | '%' | '\\'))
                .count();
        escaped <= MAX_DB_NAME
    }

    /// A wildcard schema pattern as mysqld holds a grant on it (`%`,
    /// `app\\_%`, made by other tools), to revoke that grant: it must hold
    /// a `%`, and fit mysqld's 64 characters. Never created or granted on.
    pub fn pattern(s: &str) -> Result<Self, NameError> {
        let err = |r: &str| Err(NameError::new("schema pattern", Some(s), r));
        if !s.contains('%') {
            return err("is no wildcard pattern");
        }
        if s.chars().count() > MAX_DB_NAME {
            return err(&format!("is longer than {MAX_DB_NAME} characters"));
        }
        if s.chars().any(|c| c.is_control() || is_format(c)) {
            return err("contains a control or format character");
        }
        Ok(DbName(s.to_owned()))
    }

    /// Accepts a schema name as mysqld reports it, for listings only.
    pub(crate) fn from_server(s: String) -> Self {
        DbName(s)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A character set or collation name (`utf8mb4`, `utf8mb4_unicode_ci`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Charset(String);

impl Charset {
    /// Validates a character set or collation name: 1–64 ASCII letters,
    /// digits or `_`. Whether mysqld knows it is checked against the server.
    pub fn parse(what: &'static str, s: &str) -> Result<Self, NameError> {
        if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(NameError::new(
                what,
                Some(s),
                "must be 1-64 letters, digits or '_'",
            ));
        }
        Ok(Charset(s.to_ascii_lowercase()))
    }

    /// Accepts a name as mysqld reports it.
    pub(crate) fn from_server(s: String) -> Self {
        Charset(s)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_impls {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    )*};
}
text_impls!(UserName, HostPattern, DbName, Charset);

/// An account: `name@host`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Account {
    /// The user name.
    pub name: UserName,
    /// The host pattern.
    pub host: HostPattern,
}

impl Account {
    /// `root`@`%`, the account remote root is enabled as. Built here, not
    /// parsed: `root` is a system account to every command but the root
    /// methods.
    pub fn remote_root() -> Account {
        Account {
            name: UserName("root".to_owned()),
            host: HostPattern::any(),
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for ok in [
            "a",
            "app_user",
            "user-1",
            "with space",
            "ünïcødé",
            &"x".repeat(32),
        ] {
            assert!(UserName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a'b",
            "a\"b",
            "a`b",
            "a;b",
            "a,b",
            "a/b",
            "a\\b",
            "a\0b",
            "a\nb",
            " a",
            "a ",
            "a😀",
            &"x".repeat(33),
            "x'; DROP USER root; --",
            "a--b",
            "a#b",
            "app\u{200b}",
            "a\u{2060}b",
            "\u{feff}app",
            "ad\u{202e}min",
            "a\u{00ad}b",
        ] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts() {
        for ok in [
            "%",
            "10.0.0.1",
            "10.0.%",
            "192.168.1.0/255.255.255.0",
            "10.0.0.0/8",
            "fe80::1",
            "10.0.0._",
            "2001:db8::/32",
            "%.%.%.%",
        ] {
            assert!(HostPattern::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "0::1",
            "0:0:0:0:0:0:0:1",
            "::1/128",
            "::ffff:127.0.0.1",
            "a'b",
            "a b",
            "%'; --",
            "db.example.com",
            "10.0.0.1/33",
            "10.0.0.1/x",
            "a\\b",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts_are_kept_in_lower_case_as_mysqld_does() {
        assert_eq!(HostPattern::parse("FE80::1").unwrap().as_str(), "fe80::1");
    }

    #[test]
    fn database_names() {
        for ok in [
            "a",
            "_",
            "db1",
            "my_db",
            "my-db",
            "a b",
            "a?#@b",
            "a  b",
            &"d".repeat(64),
        ] {
            assert!(DbName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            " ",
            "?",
            "a?",
            "?a",
            "a b c",
            "a`b",
            "a'b",
            "a;b",
            "a\\b",
            "a\0b",
            "a.b",
            "a%b",
            &"d".repeat(65),
            "db😀",
            "a--b",
        ] {
            assert!(DbName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn charsets() {
        assert_eq!(
            Charset::parse("charset", "UTF8MB4").map(|c| c.0),
            Ok("utf8mb4".into())
        );
        assert!(Charset::parse("charset", "utf8; DROP").is_err());
        assert!(Charset::parse("charset", "").is_err());
    }

    #[test]
    fn error_shows_hostile_value_escaped() {
        let e = UserName::parse("a'\nb").unwrap_err().to_string();
        assert!(e.contains("\\n"), "{e}");
        assert!(!e.contains('\n'));
    }
}
