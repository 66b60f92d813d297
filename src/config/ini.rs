//! A small reader for oslo.config INI files, following `oslo_config.iniparser`:
//! `[section]` headers, `key = value` or `key: value`, whole-line `#`/`;` comments
//! (no inline comments: `#` inside a value is part of it), one pair of matching
//! quotes around a value stripped, indented continuation lines joined with `\n`.
//! Section names other than `DEFAULT` are lowercased, as oslo does.
//!
//! Errors give the line number but never the line: it may hold a password.

use super::ConfigError;
use std::path::Path;
use zeroize::Zeroizing;

/// One `key = value` of an INI file.
pub(super) struct Entry {
    pub section: String,
    pub key: String,
    /// Wiped when dropped: Trove's values include passwords and keys.
    pub value: Zeroizing<String>,
}

/// Parses `text`, read from `path`, into its entries in file order.
pub(super) fn parse(path: &Path, text: &str) -> Result<Vec<Entry>, ConfigError> {
    let error = |line: usize, what: &str| ConfigError::Parse {
        path: path.to_owned(),
        message: format!("line {line}: {what}"),
    };
    let mut entries = Vec::new();
    let mut section: Option<String> = None;
    // The assignment being read: its line, key and value lines.
    let mut pending: Option<(usize, String, Vec<&str>)> = None;
    let mut flush = |pending: &mut Option<(usize, String, Vec<&str>)>,
                     section: &Option<String>|
     -> Result<(), ConfigError> {
        if let Some((line, key, lines)) = pending.take() {
            let Some(section) = section else {
                return Err(error(line, "key outside any [section]"));
            };
            entries.push(Entry {
                section: section.clone(),
                key,
                value: Zeroizing::new(lines.join("\n")),
            });
        }
        Ok(())
    };
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim_end();
        if line.is_empty() {
            flush(&mut pending, &section)?;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match pending.as_mut() {
                Some((_, _, lines)) => lines.push(line.trim_start()),
                None => return Err(error(number, "unexpected continuation line")),
            }
            continue;
        }
        flush(&mut pending, &section)?;
        if let Some(header) = line.strip_prefix('[') {
            let name = header
                .strip_suffix(']')
                .ok_or_else(|| error(number, "a section header must end with ']'"))?;
            if name.is_empty() {
                return Err(error(number, "empty section name"));
            }
            section = Some(match name {
                "DEFAULT" => name.to_owned(),
                _ => name.to_lowercase(),
            });
        } else if !line.starts_with(['#', ';']) {
            let (key, value) =
                split(line).ok_or_else(|| error(number, "expected `key = value`"))?;
            if key.is_empty() {
                return Err(error(number, "empty key"));
            }
            pending = Some((number, key.to_owned(), vec![value]));
        }
    }
    flush(&mut pending, &section)?;
    Ok(entries)
}

/// Splits at the first `=` or `:`, trims both sides and strips one pair of
/// matching quotes from the value.
fn split(line: &str) -> Option<(&str, &str)> {
    let at = line.find(['=', ':'])?;
    let key = line.get(..at)?.trim();
    let value = line.get(at + 1..)?.trim();
    let quoted = (value.starts_with('"') && value.ends_with('"'))
        || (value.starts_with('\'') && value.ends_with('\''));
    let value = if quoted {
        value.get(1..value.len() - 1).unwrap_or("")
    } else {
        value
    };
    Some((key, value))
}

/// Parses an oslo `ListOpt`: comma-separated, items trimmed, empty items dropped.
pub(super) fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses an oslo `BoolOpt`.
pub(super) fn boolean(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String, String)> {
        let entries = parse(Path::new("t.conf"), text).unwrap_or_default();
        entries
            .into_iter()
            .map(|e| (e.section, e.key, e.value.to_string()))
            .collect()
    }

    fn triple(s: &str, k: &str, v: &str) -> (String, String, String) {
        (s.to_owned(), k.to_owned(), v.to_owned())
    }

    #[test]
    fn reads_oslo_syntax() {
        let text = "# comment\n; other\n[DEFAULT]\nguest_id=abc\n\
                    transport_url = rabbit://u:p#w@h:5672/  \r\n\
                    quoted = \"a b\"\nsingle = '\ncolon: x=y\n\n[MySQL]\n\
                    multi = one\n  two\n\tthree\n\nempty =\n";
        assert_eq!(
            pairs(text),
            vec![
                triple("DEFAULT", "guest_id", "abc"),
                triple("DEFAULT", "transport_url", "rabbit://u:p#w@h:5672/"),
                triple("DEFAULT", "quoted", "a b"),
                triple("DEFAULT", "single", ""),
                triple("DEFAULT", "colon", "x=y"),
                triple("mysql", "multi", "one\ntwo\nthree"),
                triple("mysql", "empty", ""),
            ]
        );
    }

    #[test]
    fn errors_give_the_line_but_not_its_text() {
        for (text, line) in [
            ("key = secret\n", 1),
            ("[DEFAULT]\n  secret\n", 2),
            ("[DEFAULT]\nx = 1\n[broken secret\n", 3),
            ("[]\n", 1),
            ("[DEFAULT]\nsecret\n", 2),
            ("[DEFAULT]\n= secret\n", 2),
        ] {
            let err = parse(Path::new("/etc/trove/x.conf"), text).err();
            let msg = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains(&format!("line {line}")), "{text:?}: {msg}");
            assert!(msg.contains("/etc/trove/x.conf"), "{msg}");
            assert!(!msg.contains("secret"), "{msg}");
        }
    }

    #[test]
    fn lists_and_booleans() {
        assert_eq!(list(" os_admin, root ,,x,"), vec!["os_admin", "root", "x"]);
        assert!(list("").is_empty());
        assert_eq!(boolean("Yes"), Some(true));
        assert_eq!(boolean("off"), Some(false));
        assert_eq!(boolean("maybe"), None);
    }
}
