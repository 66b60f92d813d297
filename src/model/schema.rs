//! Schemas as the agent creates and lists them.

use super::{Charset, DbName};

/// A schema as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbInfo {
    /// Its name.
    pub name: DbName,
    /// Default character set.
    pub charset: Charset,
    /// Default collation.
    pub collation: Charset,
}

/// A schema to create. Without a character set the server's default applies;
/// a character set without a collation takes that set's default collation.
#[derive(Debug, Clone)]
pub struct NewDatabase {
    /// Its name.
    pub name: DbName,
    /// Requested character set.
    pub charset: Option<Charset>,
    /// Requested collation.
    pub collation: Option<Charset>,
}
