//! A privilege name for `GRANT`, as Trove's `root_grant` option lists them.

use std::fmt;

/// A validated privilege: upper-case words of letters and `_`, separated by
/// single spaces (`ALL`, `SELECT`, `CREATE USER`, MySQL 8's `BACKUP_ADMIN`).
/// Nothing else can be spliced into a `GRANT`.
#[derive(Clone, PartialEq, Eq)]
pub struct Privilege(String);

impl Privilege {
    /// Validates one privilege name; case is folded to upper.
    pub fn parse(s: &str) -> Result<Privilege, String> {
        let p = s.trim().to_ascii_uppercase();
        let words_ok = !p.is_empty()
            && p.len() <= 40
            && p.split(' ')
                .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        if words_ok {
            Ok(Privilege(p))
        } else {
            Err(format!(
                "{s:?} is not a privilege name (letters and '_', words separated by one space)"
            ))
        }
    }

    /// The name as it goes into `GRANT`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_privilege_shaped_words() {
        for ok in [
            "ALL",
            "all",
            " select ",
            "CREATE USER",
            "BACKUP_ADMIN",
            "ALL PRIVILEGES",
        ] {
            assert!(Privilege::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            Privilege::parse("create user").unwrap().as_str(),
            "CREATE USER"
        );
        for bad in [
            "",
            "ALL;",
            "ALL, SELECT",
            "SELECT  INSERT",
            "DROP`",
            "a'b",
            "X ON *.*",
        ] {
            assert!(Privilege::parse(bad).is_err(), "{bad}");
        }
    }
}
