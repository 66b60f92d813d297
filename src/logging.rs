//! The tracing subscriber, set up once.
//!
//! Output goes to stderr. Under systemd (`JOURNAL_STREAM` set) lines carry no
//! timestamp or colour, since journald stamps them itself. `GUESTAGENT_LOG`
//! (an `EnvFilter` directive such as `debug` or `guestagent=trace`)
//! overrides the configured level. Fields are structured (`id=… method=…`),
//! so one command reads as one line: id, method, outcome, duration.

use tracing_subscriber::EnvFilter;

/// Environment variable that overrides the configured log level.
pub const ENV: &str = "GUESTAGENT_LOG";

/// Installs the global subscriber at `level` (e.g. `info`). Dependencies are
/// kept at `warn` unless the filter names them: lapin and mysql_async are
/// chatty at `debug`, and mysql_async's own tracing is never compiled in.
pub fn init(level: &str) {
    let directive = std::env::var(ENV).unwrap_or_else(|_| format!("warn,guestagent={level}"));
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(!journald && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}
