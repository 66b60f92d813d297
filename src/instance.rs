//! The Trove instance as its guest knows it: whether `prepare` has run,
//! and what the heartbeat may say.
//!
//! Trove's taskmanager creates a server, casts `prepare` to its guest and
//! waits for the conductor to hear `running` or `healthy` from it. Trove's
//! own agent sends no heartbeat before `prepare` (its status would mean
//! nothing yet), forces `building` when `prepare` starts, `failed to spawn`
//! when it fails, and after a success writes the marker
//! `.guestagent.prepare.end` into `/opt/trove-guestagent`, from then on
//! reporting the database's real status, also after a restart. This module
//! keeps that life: [`Instance::heartbeat`] turns mysqld's state into what
//! the heartbeat says, or `None` for no heartbeat yet.
//!
//! An agent not driven by Trove's taskmanager (`trove.await_prepare =
//! false`, the default for a TOML configuration) is ready from the start.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::conductor::ServiceStatus;

/// Trove's marker names (`BaseDbStatus.PREPARE_START_FILENAME`, `..._END_`).
const START_MARKER: &str = ".guestagent.prepare.start";
const END_MARKER: &str = ".guestagent.prepare.end";

/// Where the instance is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Waiting for `prepare`: no heartbeat.
    Waiting,
    /// `prepare` is running.
    Preparing,
    /// `prepare` failed; the reason went to the conductor with the cast's
    /// outcome.
    Failed,
    /// Prepared (or never expected to be): report mysqld.
    Ready,
}

/// The instance's life and the files that outlive the agent.
#[derive(Debug)]
pub struct Instance {
    stage: Mutex<Stage>,
    /// Woken on every change of stage, so the heartbeat says it at once.
    changed: tokio::sync::Notify,
    marker_dir: PathBuf,
    mount_point: PathBuf,
}

impl Instance {
    /// An instance that waits for `prepare` when `await_prepare` is set and
    /// Trove's end marker is not in `marker_dir` yet.
    pub fn new(await_prepare: bool, marker_dir: &Path, mount_point: &Path) -> Self {
        let prepared = marker_dir.join(END_MARKER).is_file();
        let stage = if await_prepare && !prepared {
            Stage::Waiting
        } else {
            Stage::Ready
        };
        Instance {
            stage: Mutex::new(stage),
            changed: tokio::sync::Notify::new(),
            marker_dir: marker_dir.to_owned(),
            mount_point: mount_point.to_owned(),
        }
    }

    /// The filesystem holding mysqld's data (`get_filesystem_stats`).
    pub fn mount_point(&self) -> &Path {
        &self.mount_point
    }

    fn set(&self, stage: Stage) {
        if let Ok(mut s) = self.stage.lock() {
            if *s == stage {
                return;
            }
            *s = stage;
        }
        self.changed.notify_one();
    }

    /// Waits for the next change of stage.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    fn stage(&self) -> Stage {
        self.stage.lock().map_or(Stage::Ready, |s| s.clone())
    }

    /// `prepare` starts (again, after a crash): heartbeats say `building`,
    /// and Trove's start marker is written.
    pub fn begin_prepare(&self) {
        self.set(Stage::Preparing);
        self.mark(START_MARKER);
    }

    /// `prepare` ended. A success writes Trove's end marker, so a restarted
    /// agent reports at once; a failure is reported as `failed to spawn`
    /// until an operator fixes the instance.
    pub fn end_prepare(&self, ok: bool) {
        if ok {
            self.mark(END_MARKER);
            self.set(Stage::Ready);
        } else {
            self.set(Stage::Failed);
        }
    }

    /// What the heartbeat says, given mysqld's state; `None`: no heartbeat.
    pub fn heartbeat(&self, mysqld: ServiceStatus) -> Option<ServiceStatus> {
        match self.stage() {
            Stage::Waiting => None,
            Stage::Preparing => Some(ServiceStatus::Building),
            Stage::Failed => Some(ServiceStatus::FailedToSpawn),
            Stage::Ready => Some(mysqld),
        }
    }

    /// Writes an empty marker file. A marker that cannot be written costs
    /// only the fast start after a restart (the agent then waits for a
    /// `prepare` that already ran), so it is logged, not fatal.
    fn mark(&self, name: &str) {
        let path = self.marker_dir.join(name);
        let written =
            std::fs::create_dir_all(&self.marker_dir).and_then(|()| std::fs::write(&path, b""));
        match written {
            Ok(()) => tracing::info!(marker = %path.display(), "prepare marker written"),
            Err(e) => {
                tracing::warn!(marker = %path.display(), error = %e, "cannot write the prepare marker")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_prepare_then_reports_and_remembers() {
        let dir = tempfile::tempdir().unwrap();
        let i = Instance::new(true, dir.path(), Path::new("/"));
        assert_eq!(i.heartbeat(ServiceStatus::Healthy), None);
        i.begin_prepare();
        assert!(dir.path().join(START_MARKER).is_file());
        assert_eq!(
            i.heartbeat(ServiceStatus::Healthy),
            Some(ServiceStatus::Building)
        );
        i.end_prepare(true);
        assert_eq!(
            i.heartbeat(ServiceStatus::Shutdown),
            Some(ServiceStatus::Shutdown)
        );
        // A restart finds the marker and reports at once.
        let again = Instance::new(true, dir.path(), Path::new("/"));
        assert_eq!(
            again.heartbeat(ServiceStatus::Healthy),
            Some(ServiceStatus::Healthy)
        );
    }

    #[test]
    fn a_failed_prepare_is_reported_and_writes_no_end_marker() {
        let dir = tempfile::tempdir().unwrap();
        let i = Instance::new(true, dir.path(), Path::new("/"));
        i.begin_prepare();
        i.end_prepare(false);
        assert_eq!(
            i.heartbeat(ServiceStatus::Healthy),
            Some(ServiceStatus::FailedToSpawn)
        );
        assert!(!dir.path().join(END_MARKER).exists());
    }

    #[test]
    fn without_trove_the_agent_reports_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let i = Instance::new(false, dir.path(), Path::new("/"));
        assert_eq!(
            i.heartbeat(ServiceStatus::Crashed),
            Some(ServiceStatus::Crashed)
        );
    }
}
