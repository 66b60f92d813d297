//! What an account may do on a database: Cloud66's user types, and what
//! mysqld's grants say when read back.

/// An account's privileges on one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLevel {
    /// `application`: every database-level privilege (`GRANT ALL`).
    All,
    /// `readonly`: SELECT and SHOW VIEW, nothing else.
    ReadOnly,
    /// Anything else, granted by some other tool. Read back only: the agent
    /// never grants it.
    Custom,
}

impl AccessLevel {
    /// The privilege list of a `GRANT` for the levels the agent grants.
    pub fn privileges(self) -> Option<&'static str> {
        match self {
            AccessLevel::All => Some("ALL PRIVILEGES"),
            AccessLevel::ReadOnly => Some("SELECT, SHOW VIEW"),
            AccessLevel::Custom => None,
        }
    }

    /// Cloud66's `user_type` of an account holding `levels` on its
    /// databases: `application` when ALL everywhere (or nowhere), `readonly`
    /// when SELECT and SHOW VIEW everywhere, `custom` otherwise.
    pub fn user_type(levels: impl IntoIterator<Item = AccessLevel>) -> &'static str {
        let (mut all, mut ro) = (true, true);
        for l in levels {
            all &= l == AccessLevel::All;
            ro &= l == AccessLevel::ReadOnly;
        }
        if all {
            "application"
        } else if ro {
            "readonly"
        } else {
            "custom"
        }
    }

    /// The level a `_user_type` names; `None` for an unknown name.
    pub fn from_user_type(name: &str) -> Option<AccessLevel> {
        match name {
            "application" => Some(AccessLevel::All),
            "readonly" => Some(AccessLevel::ReadOnly),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AccessLevel::*;
    use super::*;

    #[test]
    fn user_types() {
        assert_eq!(AccessLevel::user_type([All, All]), "application");
        assert_eq!(AccessLevel::user_type([]), "application");
        assert_eq!(AccessLevel::user_type([ReadOnly]), "readonly");
        assert_eq!(AccessLevel::user_type([All, ReadOnly]), "custom");
        assert_eq!(AccessLevel::user_type([Custom]), "custom");
        assert_eq!(AccessLevel::from_user_type("readonly"), Some(ReadOnly));
        assert_eq!(AccessLevel::from_user_type("custom"), None);
        assert_eq!(Custom.privileges(), None);
    }
}
