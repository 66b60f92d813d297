//! All SQL quoting lives here, and only here.
//!
//! `CREATE USER`, `GRANT`, `DROP DATABASE` and friends take no placeholders,
//! so names have to be spliced into statement text. They arrive as the typed
//! values of `crate::model`, which already refuse quotes, backslashes and
//! control characters; the functions below still quote every byte correctly
//! on their own, so that safety never rests on one layer.
//!
//! * identifiers: wrapped in backticks, backticks doubled;
//! * string literals: wrapped in single quotes, `'` doubled, and, unless the
//!   session runs with `NO_BACKSLASH_ESCAPES`, `\` doubled and NUL written `\0`;
//! * schema names inside `GRANT ... ON db.*`: `_` and `%` are wildcards there,
//!   so they are backslash-escaped and a grant on `a_b` never covers `axb`.
//!
//! Passwords never go through here: they travel as an authentication
//! plugin's stored form (`mysql::auth`), so no plaintext reaches the
//! statement text, mysqld's general log or its binary log.

use crate::model::{Account, DbName};

/// How the session treats backslashes in string literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackslashMode {
    /// The default: `\` starts an escape sequence.
    Escapes,
    /// `sql_mode` contains `NO_BACKSLASH_ESCAPES`: `\` is an ordinary character.
    /// The agent's sessions never run so (`SESSION_SETUP` pins the mode);
    /// the quoting property test proves both modes against mysqld.
    #[cfg_attr(not(any(test, feature = "testkit")), allow(dead_code))]
    Literal,
}

/// Quotes an identifier (schema, table, column).
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('`');
    for c in name.chars() {
        if c == '`' {
            out.push('`');
        }
        out.push(c);
    }
    out.push('`');
    out
}

/// Quotes a string literal for a session in the given backslash mode.
pub fn literal(value: &str, mode: BackslashMode) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match (c, mode) {
            ('\'', _) => out.push_str("''"),
            ('\\', BackslashMode::Escapes) => out.push_str("\\\\"),
            ('\0', BackslashMode::Escapes) => out.push_str("\\0"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `'name'@'host'`, the account form every account statement takes.
pub fn account(acct: &Account, mode: BackslashMode) -> String {
    format!(
        "{}@{}",
        literal(acct.name.as_str(), mode),
        literal(acct.host.as_str(), mode)
    )
}

/// A schema name as the object of `GRANT`/`REVOKE ... ON <here>.*`, with the
/// pattern characters `_` and `%` escaped so the grant names exactly one schema.
pub fn grant_schema(db: &DbName) -> String {
    ident(&escape_schema_pattern(db.as_str()))
}

/// Escapes the LIKE-style wildcards mysqld applies to schema names in grants.
pub fn escape_schema_pattern(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if matches!(c, '_' | '%' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reverses [`escape_schema_pattern`] on a `Db` value read from `mysql.db`.
/// Returns `None` when the stored value is a real wildcard pattern (an
/// unescaped `_` or `%`), which names no single database.
pub fn unescape_schema_pattern(stored: &str) -> Option<String> {
    let mut out = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '%' => return None,
            // An unescaped `_` is a wildcard to mysqld, but grants made by
            // other tools (Trove's own agent among them) rarely mean it as
            // one; report the name as written.
            _ => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `DbName::grantable` counts what this module's escaping makes.
    #[test]
    fn grantable_matches_the_escaping() {
        for name in [
            "a",
            "a_b",
            "x".repeat(64).as_str(),
            &"_".repeat(32),
            &format!("{}_", "x".repeat(62)),
            &format!("{}__", "x".repeat(61)),
        ] {
            let Ok(db) = DbName::parse(name) else {
                continue;
            };
            assert_eq!(
                db.grantable(),
                escape_schema_pattern(db.as_str()).chars().count() <= 64,
                "{name}"
            );
        }
    }

    #[test]
    fn identifiers() {
        assert_eq!(ident("db"), "`db`");
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(ident("``"), "``````");
    }

    #[test]
    fn literals() {
        assert_eq!(literal("a'b", BackslashMode::Escapes), "'a''b'");
        assert_eq!(literal("a\\'", BackslashMode::Escapes), "'a\\\\'''");
        assert_eq!(literal("a\\'", BackslashMode::Literal), "'a\\'''");
        assert_eq!(literal("a\0b", BackslashMode::Escapes), "'a\\0b'");
    }

    #[test]
    fn schema_patterns() {
        assert_eq!(escape_schema_pattern("my_db%"), "my\\_db\\%");
        assert_eq!(unescape_schema_pattern("my\\_db").as_deref(), Some("my_db"));
        assert_eq!(unescape_schema_pattern("my_db").as_deref(), Some("my_db"));
        assert_eq!(unescape_schema_pattern("my%"), None);
        assert_eq!(unescape_schema_pattern("trailing\\"), None);
    }
}
