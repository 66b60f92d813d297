//! `get_hwinfo()` → `{"mem_total", "num_cpus"}` of the host, as Trove's
//! agent reports them.

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod};
use crate::model::{Database, DbResult};

/// `get_hwinfo`.
#[derive(Debug)]
pub struct GetHwInfo;

impl Method for GetHwInfo {
    const NAME: &'static str = "get_hwinfo";

    fn parse(_: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(GetHwInfo)
    }
}

impl ReadMethod for GetHwInfo {
    async fn apply<D: Database>(&self, _: Env<'_, D>) -> DbResult<Answer> {
        Ok(Answer::Value(crate::host::hwinfo()))
    }
}
