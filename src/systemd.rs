//! systemd integration: `READY=1`, `STATUS=`, `STOPPING=1` and the watchdog.
//!
//! Every call is a no-op outside systemd (no `NOTIFY_SOCKET`), and a failure
//! to notify is logged, never fatal: the agent's job is the database, not the
//! init system.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "systemd notification failed");
    }
}

/// The agent consumes and mysqld answers.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A change worth showing in `systemctl status`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Draining has begun.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// One watchdog ping; sent only while the agent's loops are alive.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to ping the watchdog: half the interval systemd asked for, or
/// `None` when the unit has no `WatchdogSec`.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}
