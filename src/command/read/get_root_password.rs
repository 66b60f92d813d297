//! `get_root_password()`: not supported for MySQL/MariaDB, as in Trove. The
//! root password is handed over once, by `enable_root`, and kept nowhere.

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod};
use crate::model::{Database, DbError, DbResult};

/// `get_root_password`.
#[derive(Debug)]
pub struct GetRootPassword;

impl Method for GetRootPassword {
    const NAME: &'static str = "get_root_password";

    fn parse(_: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(GetRootPassword)
    }
}

impl ReadMethod for GetRootPassword {
    async fn apply<D: Database>(&self, _: Env<'_, D>) -> DbResult<Answer> {
        Err(DbError::NotSupported(
            "get_root_password is not supported for MySQL/MariaDB: \
             the root password is returned once, by enable_root"
                .into(),
        ))
    }
}
