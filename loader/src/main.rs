use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = lmdns_loader::cli::Cli::parse();
    // One-shot commands speak on stdout and warn on stderr; the writer logs each UPDATE.
    let default = if matches!(cli.command, lmdns_loader::cli::Command::Serve(_)) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| default.into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match lmdns_loader::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
