//! Log lines on stderr, as text for people or as JSON for log pipelines (`--log-format`,
//! `log_format` in the config file).

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(clap::ValueEnum, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, message, the event's fields, target.
    Json,
}

/// The JSON form: the event's fields at the top level beside `timestamp`, `level` and
/// `target`, the shape log shippers (Vector, Promtail, Fluent Bit) pick apart without a
/// nested `fields` object.
macro_rules! json_builder {
    () => {
        tracing_subscriber::fmt().json().flatten_event(true).with_current_span(false).with_writer(std::io::stderr)
    };
}

/// Installs the process-wide subscriber: `filter` in RUST_LOG syntax, lines to stderr (the
/// journal under systemd), so stdout stays free for --check-config output and pipes.
pub fn init(format: LogFormat, filter: EnvFilter) {
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => json_builder!().with_env_filter(filter).init(),
    }
}

/// Reports the error that ends the process. Not through the log filter, which may hide errors:
/// as `lmdns-server: ...` text, or as one JSON line of the log's shape so a pipeline parsing
/// every line of stderr gets it too.
pub fn fatal(format: LogFormat, message: &str) {
    match format {
        LogFormat::Text => eprintln!("lmdns-server: {message}"),
        LogFormat::Json => {
            let subscriber = json_builder!().finish();
            tracing::subscriber::with_default(subscriber, || tracing::error!(target: "lmdns_server", "{message}"));
        }
    }
}
