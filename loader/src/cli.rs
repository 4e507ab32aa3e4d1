//! The `lmdns-loader` command line. Every command opens the database, does its work in ONE
//! LMDB write transaction and commits it whole, or fails and commits nothing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lmdb_schema::{OpenOptions, Store};

use crate::commands;
use crate::logging::LogFormat;

#[derive(Parser, Debug)]
#[command(
    name = "lmdns-loader",
    version,
    about = "The only writer of an lmdns database: zones, records, changesets and IP-range tables.",
    long_about = "The only writer of an lmdns database. Every command is one LMDB write transaction: \
                  it commits whole or not at all, and a running lmdns-server answers from it on the \
                  very next query, with no reload or signal. Two loaders at once take turns on \
                  LMDB's writer lock."
)]
pub struct Cli {
    /// Database directory (an LMDB environment). Commands that write create it if missing (and
    /// remove it again if they fail); commands that only read refuse a missing one. Required by
    /// every command but `zone check`, which never opens a database.
    #[arg(long, value_name = "DIR", env = "LMDNS_DB")]
    pub db: Option<PathBuf>,
    /// LMDB map size: the most the database may grow to. The file is sparse, so a large value
    /// costs nothing. Accepts K, M, G and T suffixes. It must be no smaller than the map size
    /// lmdns-server opens the database with.
    #[arg(long, value_name = "BYTES", default_value = "64G", value_parser = parse_size)]
    pub map_size: usize,
    /// The most one input may be: a zone file with everything it `$INCLUDE`s, a changeset, a
    /// range file. Inputs also may not hold NUL bytes or lines over 1 MiB. Accepts K, M, G and T
    /// suffixes.
    #[arg(long, value_name = "BYTES", default_value = "4G", value_parser = parse_size, global = true)]
    pub max_input: usize,
    /// The directory `$INCLUDE` may read from (and below). Default: the directory of the zone
    /// file being read.
    #[arg(long, value_name = "DIR", global = true)]
    pub include_root: Option<PathBuf>,
    /// Log lines on stderr as `text`, or as `json`: one object per line with timestamp, level,
    /// message, the event's fields and target, for log pipelines (the writer's `serve` logs a
    /// line per UPDATE and transfer). A fatal error is then one such line too. Command output
    /// (stdout) and the warnings of one-shot commands stay text. The filter is RUST_LOG.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Import, delete, list and export whole zones.
    #[command(subcommand)]
    Zone(commands::zone::ZoneCommand),
    /// Add or delete single records; the SOA serial is bumped.
    #[command(subcommand)]
    Record(commands::record::RecordCommand),
    /// Apply a JSON-lines changeset as one transaction.
    Apply(commands::apply::ApplyArgs),
    /// Database facts and consistent backups.
    #[command(subcommand)]
    Db(commands::db::DbCommand),
    /// TSIG keys (RFC 8945) for transfers, NOTIFY and UPDATE: add, import, list, delete.
    #[command(subcommand)]
    Key(commands::key::KeyCommand),
    /// Follow catalog zones (RFC 9432) as a consumer, and map their groups to primaries.
    #[command(subcommand)]
    Catalog(commands::secondary::CatalogCommand),
    /// IP-range tables: client metadata by address.
    #[command(subcommand)]
    Ranges(crate::ranges::cli::RangesCommand),
    /// Run the long-running writer: DNS UPDATE (RFC 2136) and NOTIFY from the network and from
    /// lmdns-server, committed as they come (group commit), and the transfers that keep
    /// secondary zones and followed catalogs fresh, until SIGTERM.
    Serve(crate::serve::ServeArgs),
}

/// The command line's definition, for man pages and shell completions (`lmdns-docgen`).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Parses `64G`, `512M`, `1048576`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("unknown size suffix {c:?} (use K, M, G or T)")),
            };
            (&text[..i], shift)
        }
        _ => (text, 0),
    };
    let n: usize = digits.parse().map_err(|_| format!("not a size: {text:?}"))?;
    n.checked_shl(shift).filter(|v| v >> shift == n).ok_or_else(|| format!("size too large: {text}"))
}

impl Cli {
    /// The database directory, which every command but `zone check` needs.
    pub fn db(&self) -> anyhow::Result<&Path> {
        self.db.as_deref().context("no database given: pass --db DIR (or set LMDNS_DB); only `zone check` works without one")
    }
}

/// Opens the database for writing, clearing reader slots left by dead processes first.
pub fn open_store(cli: &Cli) -> anyhow::Result<Store> {
    let store = Store::open(cli.db()?, &OpenOptions { map_size: cli.map_size, read_only: false })?;
    let cleared = store.env().clear_stale_readers().context("clearing stale LMDB readers")?;
    if cleared > 0 {
        tracing::info!(cleared, "cleared stale LMDB reader slots");
    }
    Ok(store)
}

/// Runs the loader with `args` (without the program name), as `main` does with the process
/// arguments. Usage errors are returned as errors, not printed and exited.
pub fn run_args<I, T>(args: I) -> anyhow::Result<ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv = std::iter::once(OsString::from("lmdns-loader")).chain(args.into_iter().map(Into::into));
    let cli = Cli::try_parse_from(argv)?;
    run(cli)
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    crate::input::set_limits(crate::input::Limits { max_input: cli.max_input as u64, include_root: cli.include_root.clone() });
    // `zone check` must work where no database is, and never create one.
    if let Command::Zone(commands::zone::ZoneCommand::Check(args)) = &cli.command {
        return commands::check::run(args);
    }
    let db = cli.db()?.to_path_buf();
    let fresh = !db.join("data.mdb").exists();
    if fresh && only_reads(&cli.command) {
        // A mistyped --db must not look like an empty database (and must not create one).
        anyhow::bail!("no lmdns database at {} (no data.mdb there): check --db; commands that write create it", db.display());
    }
    let dir_was_there = db.exists();
    let serve = matches!(cli.command, Command::Serve(_));
    let result = run_on(open_store(&cli)?, &db, cli.command);
    if fresh && !serve && !matches!(result, Ok(ExitCode::SUCCESS)) {
        remove_new_database(&db, dir_was_there);
    }
    result
}

fn run_on(store: Store, db: &Path, command: Command) -> anyhow::Result<ExitCode> {
    let db = db.to_path_buf();
    match command {
        Command::Zone(command) => commands::zone::run(&store, command),
        Command::Record(command) => commands::record::run(&store, command),
        Command::Apply(args) => commands::apply::run(&store, args),
        Command::Db(command) => commands::db::run(&store, &db, command),
        Command::Key(command) => commands::key::run(&store, command),
        Command::Catalog(command) => commands::secondary::run_catalog(&store, command),
        Command::Ranges(command) => crate::ranges::cli::run(&store, command),
        Command::Serve(args) => crate::serve::run(&store, &db, args),
    }
}

/// Commands that never write: they need a database that is there.
fn only_reads(command: &Command) -> bool {
    use crate::ranges::cli::RangesCommand as R;
    use commands::db::DbCommand as D;
    use commands::key::KeyCommand as K;
    use commands::zone::ZoneCommand as Z;
    matches!(
        command,
        Command::Zone(Z::List { .. } | Z::Export { .. })
            | Command::Db(D::Info { .. } | D::Backup { .. })
            | Command::Key(K::List { .. })
            | Command::Ranges(R::Lookup { .. } | R::Export { .. } | R::List)
    )
}

/// A command that created the database and then failed leaves nothing behind (a failed
/// import-dir into a new path would otherwise leave an empty database that looks imported).
fn remove_new_database(db: &Path, dir_was_there: bool) {
    for file in ["data.mdb", "lock.mdb"] {
        let _ = std::fs::remove_file(db.join(file));
    }
    if !dir_was_there {
        // Only if empty: anything else in it is not ours.
        let _ = std::fs::remove_dir(db);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64G"), Ok(64 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999999T").is_err());
    }

    /// Every argument of every subcommand, positional or flag, has a help text, and no help or
    /// default shows an internal name.
    #[test]
    fn help_explains_every_flag() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
                let help = help.trim();
                if help.is_empty() {
                    missing.push(format!("{path} {id}: no help"));
                }
                if help.contains("::") || arg.get_default_values().iter().any(|v| v.to_string_lossy().contains("::")) {
                    missing.push(format!("{path} {id}: an internal name in the help or default"));
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {}: no about", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "lmdns-loader", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}
