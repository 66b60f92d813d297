//! `get_filesystem_stats(fs_path)` → the filesystem holding mysqld's data,
//! for `instance show`'s volume usage: `{"block_size", "total_blocks",
//! "free_blocks", "avail_blocks", "total", "free", "used",
//! "mgr_extra_info"}` in Trove's units (`host::filesystem_stats`).
//!
//! As Trove's agent, it ignores `fs_path` (Trove sends null) and reports
//! `mysql.mount_point` (Trove's `[mysql] mount_point`, `/var/lib/mysql`).

use serde_json::json;

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod};
use crate::model::{Database, DbError, DbResult};

/// `get_filesystem_stats`.
#[derive(Debug)]
pub struct GetFilesystemStats;

impl Method for GetFilesystemStats {
    const NAME: &'static str = "get_filesystem_stats";

    fn parse(args: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        // Read for its type only; the mount point is the agent's.
        args.opt_string("fs_path")?;
        Ok(GetFilesystemStats)
    }
}

impl ReadMethod for GetFilesystemStats {
    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
        let mut stats =
            crate::host::filesystem_stats(env.instance.mount_point()).map_err(DbError::Host)?;
        if let Some(m) = stats.as_object_mut() {
            m.insert("mgr_extra_info".into(), json!({}));
        }
        Ok(Answer::Value(stats))
    }
}
