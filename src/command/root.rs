//! Remote root: `enable_root` / `enable_root_with_password` arguments and result.

use secrecy::SecretString;
use serde_json::{Value, json};

use super::ParseError;
use super::args::Args;
use super::db::Database;
use super::names::Password;
use crate::mysql::MysqlError;

/// `root_password`: a password, or null to have one generated.
pub fn parse_password(args: &mut Args) -> Result<Option<Password>, ParseError> {
    Ok(match args.opt_string("root_password")? {
        Some(p) => Some(Password::parse(SecretString::from(p))?),
        None => None,
    })
}

/// Enables remote root and answers Trove's root user, carrying the password
/// once: the agent keeps no copy.
pub async fn enable<D: Database>(db: &D, password: Option<&Password>) -> Result<Value, MysqlError> {
    let generated;
    let password = match password {
        Some(p) => p,
        None => {
            generated = Password::generate()
                .map_err(|e| MysqlError::Protocol(format!("no randomness for a password: {e}")))?;
            &generated
        }
    };
    let root = db.enable_root(password).await?;
    Ok(json!({
        "_name": root.name.as_str(),
        "_host": root.host.as_str(),
        "_password": password.expose_for_reply(),
        "_databases": [],
        "_is_root": true,
    }))
}
