//! The tracing subscriber, set up once.
//!
//! Under systemd (`JOURNAL_STREAM` names our stderr) events go to journald's
//! native protocol, so every field is a journal field of its own
//! (`ID=`, `METHOD=`, `OUTCOME=`, `DURATION_MS=` ... next to `MESSAGE=`):
//! `journalctl -u guestagent OUTCOME=failed` finds the failures. Elsewhere,
//! or if the journal socket cannot be opened, lines go to stderr with their
//! fields as `key=value`. `GUESTAGENT_LOG` (an `EnvFilter` directive such as
//! `debug` or `guestagent=trace`) overrides the configured level.

use std::fmt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Environment variable that overrides the configured log level.
pub const ENV: &str = "GUESTAGENT_LOG";

/// Crates whose verbose levels print secrets: lapin's and amq-protocol's
/// frame traces show the AMQP PLAIN credentials and message bodies
/// (passwords, the context's token). They stay at `warn` unless a directive
/// names them, so `GUESTAGENT_LOG=trace` alone never turns them on.
const QUIET: &[&str] = &["lapin", "amq_protocol", "tcp_stream", "async_rs", "rustls"];

fn directive(level: &str, from_env: Option<String>) -> String {
    let mut directive = from_env.unwrap_or_else(|| format!("warn,guestagent={level}"));
    for target in QUIET {
        let named = directive
            .split(',')
            .any(|d| d.trim_start().starts_with(target));
        if !named {
            directive.push_str(&format!(",{target}=warn"));
        }
    }
    directive
}

fn filter(level: &str) -> EnvFilter {
    // mysql_async is chatty at `debug` too, and its statement tracing is
    // never compiled in.
    let directive = directive(level, std::env::var(ENV).ok());
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

/// Longest piece of wire text put in a log line, in characters.
const SHOWN_MAX: usize = 200;

/// Text from the wire as a log field: control, format and other invisible
/// characters escaped (`\n`, `\u{200b}`), so a field cannot fake a log line
/// or hide in one, and cut at [`SHOWN_MAX`] characters.
pub fn shown(text: &str) -> Shown<'_> {
    Shown(text)
}

/// See [`shown`].
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(SHOWN_MAX) {
            match c {
                // Quotes need no escaping inside a field.
                '"' | '\'' => fmt::Write::write_char(f, c)?,
                _ => write!(f, "{}", c.escape_debug())?,
            }
        }
        if chars.next().is_some() {
            f.write_str("…")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_printing_crates_stay_quiet_unless_named() {
        assert_eq!(
            directive("info", None),
            "warn,guestagent=info,lapin=warn,amq_protocol=warn,tcp_stream=warn,async_rs=warn,rustls=warn"
        );
        let trace = directive("info", Some("trace".into()));
        assert!(
            trace.starts_with("trace,lapin=warn,amq_protocol=warn"),
            "{trace}"
        );
        let named = directive("info", Some("trace,lapin=trace".into()));
        assert!(
            named.contains("lapin=trace") && !named.contains("lapin=warn"),
            "{named}"
        );
    }

    #[test]
    fn trace_level_logs_no_frame_traces() {
        use std::sync::{Arc, Mutex};
        let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = seen.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::try_new(directive("info", Some("trace".into()))).unwrap())
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lapin::io_loop", "frame with PLAIN guest:hunter2");
            tracing::trace!(target: "amq_protocol_types::parsing", "body hunter2");
            tracing::trace!(target: "guestagent::agent", "agent trace shown");
        });
        let text = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("agent trace shown"), "{text}");
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn wire_text_is_escaped_and_cut() {
        assert_eq!(shown("get_user").to_string(), "get_user");
        assert_eq!(shown("a\nFAKE line").to_string(), "a\\nFAKE line");
        assert_eq!(shown("x\u{1b}[2Jy").to_string(), "x\\u{1b}[2Jy");
        assert_eq!(shown("zero\u{200b}width").to_string(), "zero\\u{200b}width");
        assert_eq!(shown("say \"hi\"").to_string(), "say \"hi\"");
        let long = "x".repeat(500);
        let cut = shown(&long).to_string();
        assert_eq!(cut.chars().count(), SHOWN_MAX + 1);
        assert!(cut.ends_with('…'));
    }
}
