//! `stop_db(do_not_start_on_reboot)`: Trove's taskmanager calls it before
//! deleting (and resizing or restarting) an instance. guestagent does not
//! run mysqld's process: the image's service manager does, and starts it
//! again as it sees fit. So the call changes nothing and says so, as not
//! supported, instead of stopping a server nothing here would start again.

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod};
use crate::model::{Database, DbError, DbResult};

/// `stop_db`.
#[derive(Debug)]
pub struct StopDb;

impl Method for StopDb {
    const NAME: &'static str = "stop_db";

    fn parse(args: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        args.flag("do_not_start_on_reboot")?;
        Ok(StopDb)
    }
}

impl ReadMethod for StopDb {
    async fn apply<D: Database>(&self, _: Env<'_, D>) -> DbResult<Answer> {
        Err(DbError::NotSupported(
            "stop_db: guestagent does not run mysqld's process; the image's service \
             manager does (stop it there)"
                .into(),
        ))
    }
}
