//! The tracing subscriber, set up once.
//!
//! Under systemd (`JOURNAL_STREAM` names our stderr) events go to journald's
//! native protocol, so every field is a journal field of its own
//! (`ID=`, `METHOD=`, `OUTCOME=`, `DURATION_MS=` ... next to `MESSAGE=`):
//! `journalctl -u guestagent OUTCOME=failed` finds the failures. Elsewhere,
//! or if the journal socket cannot be opened, lines go to stderr with their
//! fields as `key=value`. `GUESTAGENT_LOG` (an `EnvFilter` directive such as
//! `debug` or `guestagent=trace`) overrides the configured level.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Environment variable that overrides the configured log level.
pub const ENV: &str = "GUESTAGENT_LOG";

fn filter(level: &str) -> EnvFilter {
    // Dependencies stay at `warn` unless the filter names them: lapin and
    // mysql_async are chatty at `debug` (mysql_async's statement tracing is
    // never compiled in).
    let directive = std::env::var(ENV).unwrap_or_else(|_| format!("warn,guestagent={level}"));
    EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber at `level` (e.g. `info`).
pub fn init(level: &str) {
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        match tracing_journald::layer() {
            Ok(journal) => {
                let journal = journal
                    .with_syslog_identifier("guestagent".to_owned())
                    .with_field_prefix(None);
                if tracing_subscriber::registry()
                    .with(filter(level))
                    .with(journal)
                    .try_init()
                    .is_ok()
                {
                    return;
                }
            }
            Err(e) => eprintln!("guestagent: journald unavailable ({e}); logging to stderr"),
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
