//! One shutdown path: SIGTERM or SIGINT cancels a single token.
//!
//! Every long wait in the agent sits in a `select!` with this token, so the
//! first signal stops consuming and lets the command in hand finish. A second
//! signal means the operator does not want to wait: the process exits at once
//! (unacknowledged messages go back to the broker).

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Exit status used when a second signal cuts the drain short.
pub const FORCED_EXIT: i32 = 130;

/// Installs the signal handlers and returns the token they cancel. Must be
/// called inside the runtime.
pub fn install() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let t = token.clone();
    tokio::spawn(async move {
        for n in 0..2 {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            if n == 0 {
                tracing::info!(signal = name, "stopping: finishing the command in hand");
                crate::systemd::stopping();
                t.cancel();
            } else {
                tracing::warn!(signal = name, "second signal: exiting now");
                std::process::exit(FORCED_EXIT);
            }
        }
    });
    Ok(token)
}
