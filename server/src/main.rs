use std::process::ExitCode;

use clap::Parser;
use lmdns_server::config::{Cli, Config};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_cli(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("lmdns-server: invalid configuration: {e:#}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    // Logs go to stderr so stdout stays free for --check-config output and pipes.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log_level))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match lmdns_server::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Not through tracing: the error must show whatever the log filter.
            eprintln!("lmdns-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
