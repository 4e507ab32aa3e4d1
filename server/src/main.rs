use std::process::ExitCode;

use clap::Parser;
use lmdns_server::config::{Cli, Config, FileConfig};
use lmdns_server::ops::logging;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_cli(&cli) {
        Ok(config) => config,
        Err(e) => {
            // The configuration is what failed; its log format still applies if it can be read.
            let file = cli.config.as_deref().and_then(|path| FileConfig::load(path).ok());
            let format = cli.log_format.or(file.and_then(|f| f.log_format)).unwrap_or_default();
            logging::fatal(format, &format!("invalid configuration: {e:#}"));
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    let format = config.log_format;
    logging::init(format, tracing_subscriber::EnvFilter::new(&config.log_level));
    match lmdns_server::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            logging::fatal(format, &format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}
