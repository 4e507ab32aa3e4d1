use std::process::ExitCode;

use clap::Parser;
use lmdns_loader::logging;

fn main() -> ExitCode {
    let cli = lmdns_loader::cli::Cli::parse();
    // One-shot commands speak on stdout and warn on stderr; the writer logs each UPDATE.
    let default = if matches!(cli.command, lmdns_loader::cli::Command::Serve(_)) { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| default.into());
    let format = cli.log_format;
    logging::init(format, filter);
    match lmdns_loader::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            logging::fatal(format, &format!("{error:#}"));
            ExitCode::FAILURE
        }
    }
}
