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
use crate::model::TlsMode;

/// Trove's marker names (`BaseDbStatus.PREPARE_START_FILENAME`, `..._END_`).
const START_MARKER: &str = ".guestagent.prepare.start";
const END_MARKER: &str = ".guestagent.prepare.end";
/// The instance's TLS mode, and the one before the last change (for
/// `ssl_rollback`), in the state directory.
const TLS_FILE: &str = "tls_mode";
const TLS_PREVIOUS: &str = "tls_mode.previous";
/// The agent's own note, in its state directory, that prepare has run.
const PREPARED: &str = "prepared";

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
    /// Where the TLS mode is kept.
    state_dir: PathBuf,
    tls: Mutex<Option<TlsMode>>,
}

impl Instance {
    /// An instance that waits for `prepare` when `await_prepare` is set and
    /// Trove's end marker is not in `marker_dir` yet.
    #[cfg(test)]
    pub fn new(await_prepare: bool, marker_dir: &Path, mount_point: &Path) -> Self {
        Self::with_state(await_prepare, marker_dir, mount_point, None, None)
    }

    /// [`Instance::new`], keeping its TLS mode in `state_dir` (`None`: in
    /// memory only), starting from `tls` (Trove's `ssl_mode`) until a mode
    /// was set here.
    pub fn with_state(
        await_prepare: bool,
        marker_dir: &Path,
        mount_point: &Path,
        state_dir: Option<&Path>,
        tls: Option<TlsMode>,
    ) -> Self {
        let state_dir = state_dir.map(Path::to_owned).unwrap_or_default();
        // Trove's marker, or the agent's own copy of it: a marker directory
        // the image did not make writable must not cost the heartbeat after
        // a restart.
        let prepared = marker_dir.join(END_MARKER).is_file()
            || (!state_dir.as_os_str().is_empty() && state_dir.join(PREPARED).is_file());
        let tls = match read_mode(&state_dir.join(TLS_FILE)) {
            Some(saved) => saved,
            None => tls,
        };
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
            state_dir,
            tls: Mutex::new(tls),
        }
    }

    /// The TLS mode every account follows, those made later included.
    pub fn tls_mode(&self) -> Option<TlsMode> {
        self.tls.lock().map_or(None, |m| *m)
    }

    /// Sets the TLS mode (`None`: off), remembering the one before for
    /// [`Instance::rollback_tls`]; on disk before it takes effect.
    pub fn set_tls_mode(&self, mode: Option<TlsMode>) -> std::io::Result<()> {
        let previous = self.tls_mode();
        self.save(TLS_PREVIOUS, previous)?;
        self.save(TLS_FILE, mode)?;
        if let Ok(mut m) = self.tls.lock() {
            *m = mode;
        }
        Ok(())
    }

    /// The mode before the last change (`Some(None)`: off); `None` when
    /// there is nothing to go back to.
    pub fn previous_tls(&self) -> Option<Option<TlsMode>> {
        read_mode(&self.state_dir.join(TLS_PREVIOUS))
    }

    /// Goes back to `previous` (what [`Instance::previous_tls`] said) and
    /// forgets it: one step back only.
    pub fn rollback_tls(&self, previous: Option<TlsMode>) -> std::io::Result<()> {
        self.save(TLS_FILE, previous)?;
        if !self.state_dir.as_os_str().is_empty() {
            std::fs::remove_file(self.state_dir.join(TLS_PREVIOUS))?;
        }
        if let Ok(mut m) = self.tls.lock() {
            *m = previous;
        }
        Ok(())
    }

    /// Writes a mode file: a temporary file renamed over it.
    fn save(&self, name: &str, mode: Option<TlsMode>) -> std::io::Result<()> {
        if self.state_dir.as_os_str().is_empty() {
            return Ok(());
        }
        let path = self.state_dir.join(name);
        let tmp = self.state_dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, mode.map_or("none", TlsMode::name))?;
        std::fs::rename(&tmp, &path)
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
            if !self.state_dir.as_os_str().is_empty()
                && let Err(e) = std::fs::write(self.state_dir.join(PREPARED), b"")
            {
                tracing::warn!(dir = %self.state_dir.display(), error = %e, "cannot note that prepare has run");
            }
            self.set(Stage::Ready);
        } else if self.stage() != Stage::Ready {
            self.set(Stage::Failed);
        } else {
            // A second prepare (Trove sends one) that failed: the instance
            // prepared before is as healthy as it was.
            tracing::warn!("a prepare failed on an instance prepared before; status unchanged");
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

    /// Writes one of Trove's marker files. One that cannot be written (a
    /// directory the image did not make writable) is logged: the agent's own
    /// note in its state directory keeps it reporting after a restart.
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

/// A mode file: `Some(mode)` (`Some(None)` for off), `None` when absent or
/// unreadable.
fn read_mode(path: &Path) -> Option<Option<TlsMode>> {
    let text = std::fs::read_to_string(path).ok()?;
    match text.trim() {
        "none" => Some(None),
        m => TlsMode::parse(m).map(Some),
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
    fn the_tls_mode_is_kept_and_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        let i = Instance::with_state(false, state, state, Some(state), Some(TlsMode::Basic));
        assert_eq!(i.tls_mode(), Some(TlsMode::Basic));
        i.set_tls_mode(Some(TlsMode::Enforced)).unwrap();
        let again = Instance::with_state(false, state, state, Some(state), None);
        assert_eq!(
            again.tls_mode(),
            Some(TlsMode::Enforced),
            "kept over a restart"
        );
        assert_eq!(again.previous_tls(), Some(Some(TlsMode::Basic)));
        again.rollback_tls(Some(TlsMode::Basic)).unwrap();
        assert_eq!(again.tls_mode(), Some(TlsMode::Basic));
        assert_eq!(again.previous_tls(), None, "one step back only");
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
